"""Reading the local engine's runs in the end-to-end tests: runs by function, and the data they ran on."""

from __future__ import annotations

from jobs.engine.models import Run


def runs_of(function: str) -> list[Run]:
    """Every run of a function (by its slug's end), oldest first, whatever its status."""
    return list(Run.objects.filter(function__slug__endswith=function).order_by("id"))


def finished(function: str) -> list[Run]:
    return [run for run in runs_of(function) if run.status in ("completed", "failed")]


def event_data(run: Run) -> dict:
    """The payload of the event that started the run (a debounced run: the burst's last event)."""
    return run.events[0]["data"]
