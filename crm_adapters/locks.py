"""PostgreSQL advisory locks: mutual exclusion (nurturehub/locks.py, the project's one) and concurrency caps that
hold across every process and worker.

Session-level locks are used (not transaction-level) because they must be held across HTTP calls, which never
run inside a transaction; they are released explicitly, and by PostgreSQL if the process dies.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection as db

from nurturehub.locks import advisory_lock

__all__ = ["SlotsExhausted", "advisory_lock", "concurrency_slot"]


def _key32(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big", signed=True)


class SlotsExhausted(Exception):
    """No concurrency slot became free within the wait allowed."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"all concurrency slots busy; retry in {retry_after:.1f}s")


@contextmanager
def concurrency_slot(name: str, *, limit: int, max_wait: float) -> Iterator[int]:
    """Hold one of `limit` slots named `name` for the block, so at most `limit` blocks run at once anywhere.

    Raises SlotsExhausted when none frees up within `max_wait` seconds.
    """
    group = _key32(name)
    deadline = time.monotonic() + max_wait
    pause = 0.005
    slot = None
    while slot is None:
        # Start at a random slot, so that waiters do not all contend for slot 0.
        first = random.randrange(limit)  # noqa: S311 - load spreading, not security
        with db.cursor() as cursor:
            for offset in range(limit):
                candidate = (first + offset) % limit
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [group, candidate])
                if cursor.fetchone()[0]:
                    slot = candidate
                    break
        if slot is None:
            if time.monotonic() >= deadline:
                raise SlotsExhausted(retry_after=1.0)
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
    try:
        yield slot
    finally:
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [group, slot])
