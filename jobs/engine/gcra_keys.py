"""GCRA state per key (engine_gcrakey), one way for every flow gate that keeps it: the rate limit and idempotency
(gates.py) and throttle (throttle.py). A key's value is hashed (Inngest hashes it with xxhash, ratelimit.go `hash`:
bounded, and no event data in keys), a key fits its 255-character column, and a TAT is whole nanoseconds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .queries import statement

_GCRA_LOCK_SQL = statement("gcra_lock")
_GCRA_READ_SQL = statement("gcra_read")
_GCRA_STORE_SQL = statement("gcra_store")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def key_hash(value: object) -> str:
    """A key's value, hashed: strings as they are, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def key_bounded(key: str) -> str:
    """Keys fit their 255-character columns: a long function id is hashed along with the rest (its kind kept)."""
    return key if len(key) <= 255 else f"{key[:2]}{key_hash(key)}"


def gcra_lock(cursor: Any, key: str) -> int | None:
    """Lock the key until the transaction ends and read its TAT (None when it has none)."""
    cursor.execute(_GCRA_LOCK_SQL, [key])
    cursor.execute(_GCRA_READ_SQL, [key])
    row = cursor.fetchone()
    return None if row is None else row[0]


def gcra_store(cursor: Any, key: str, tat_ns: int) -> None:
    cursor.execute(_GCRA_STORE_SQL, [key, tat_ns])


def ns(moment: datetime) -> int:
    return ns_of(moment - EPOCH)


def ns_of(period: timedelta) -> int:
    return period // _MICROSECOND * 1000  # exact: no float seconds
