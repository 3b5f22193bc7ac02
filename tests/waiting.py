"""Waiting in tests for something another thread or process does: poll a condition, never time the work.

The one place tests wait (the engine tests' `wait_until` fixture is this function). The timeout only bounds a
test that would otherwise hang; it is generous because these machines are slow at times, and nothing is timed.
"""

from __future__ import annotations

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
