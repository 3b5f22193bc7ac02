"""The one session advisory lock of the project: mutual exclusion that holds across every process and worker.

Session-level (not transaction-level) because it must be held across HTTP calls and SMTP, which never run inside
a transaction; released explicitly, and by PostgreSQL if the process dies. Imports no app, so any app may use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def advisory_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock named `name` for the block (waits for the current holder)."""
    key = lock_key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
