"""Waiting in tests for something another thread or process does: poll a condition, never time the work.

The one place tests wait (the engine tests' `wait_until` fixture is this function). The timeout only bounds a
test that would otherwise hang; it is generous because these machines are slow at times, and nothing is timed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Seconds before a wait gives up: a failure guard, never a timing assertion.
TIMEOUT = 120


def wait_for(
    condition: Callable[[], object], *, timeout: float = TIMEOUT, interval: float = 0.02, message: str = "condition"
) -> None:
    """Poll until `condition` holds; `timeout` only bounds a test that would otherwise hang (nothing is timed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


def while_one_holds_a_lock_another_waits(
    hold: Callable[[], None], wait: Callable[[], None], *, holding: threading.Event, release: threading.Event
) -> None:
    """Run `hold` in a thread until it holds its row locks (it sets `holding`, then waits for `release`), then
    `wait` in another until PostgreSQL shows a lock awaited; release the holder and join both.

    Two transactions meet in one order every time: a barrier, not a sleep.
    """
    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(TIMEOUT)
    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        wait_for(_a_lock_is_awaited, message="the second transaction waiting for the first's lock")
    finally:
        release.set()
        holder.join(TIMEOUT)
        waiter.join(TIMEOUT)


def _a_lock_is_awaited() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
        return cursor.fetchone()[0] > 0
