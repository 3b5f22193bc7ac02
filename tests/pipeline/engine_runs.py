"""Reading the local engine's runs in the end-to-end tests: waiting on a condition, and runs by function."""

from __future__ import annotations

import time
from collections.abc import Callable

from jobs.engine.models import Run


def wait_for(condition: Callable[[], bool], *, timeout: float = 30, message: str = "condition") -> None:
    """Poll until `condition` holds; `timeout` only bounds a test that would otherwise hang (nothing is timed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.05)


def runs_of(function: str) -> list[Run]:
    """Every run of a function (by its slug's end), oldest first, whatever its status."""
    return list(Run.objects.filter(function__slug__endswith=function).order_by("id"))


def finished(function: str) -> list[Run]:
    return [run for run in runs_of(function) if run.status in ("completed", "failed")]


def event_data(run: Run) -> dict:
    """The payload of the event that started the run (a debounced run: the burst's last event)."""
    return run.events[0]["data"]
