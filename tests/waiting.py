"""Waiting in tests for something another thread or process does: poll a condition, never time the work."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], bool], *, timeout: float = 30, interval: float = 0.05, message: str = "condition"
) -> None:
    """Poll until `condition` holds; `timeout` only bounds a test that would otherwise hang (nothing is timed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)
