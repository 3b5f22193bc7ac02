"""One line of a run page's timeline, whichever source it comes from (run tracking or the engine's trace)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .base import format_duration


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "attempt", "sleep" or "end"
    step_id: str
    title: str  # "push-contact, attempt 2"
    status: str  # css class: completed, failed, exhausted, sleeping, cancelled, retrying...
    status_label: str  # what happened, in words: "failed; retry at 10:02:15 (after 15.0 s)"
    started_at: datetime | None
    duration: str
    error: str = ""
    traceback: str = ""
    gap_before: str = ""  # the wait between the previous entry's end and this one's start


def clock(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%H:%M:%S}"


def sleep_entry(
    step_id: str, name: str, started_at: datetime, wake: datetime | None, *, now: datetime
) -> TimelineEntry:
    """A sleep: "sleeping until ..." while it lasts, "slept until ..." once it is over."""
    woke = wake is not None and wake <= now
    label = f"slept until {clock(wake)}" if woke else (f"sleeping until {clock(wake)}" if wake else "sleep")
    return TimelineEntry(
        kind="sleep",
        step_id=step_id,
        title=f"{name} (sleep)",
        status="completed" if woke else "sleeping",
        status_label=label,
        started_at=started_at,
        duration=format_duration((wake - started_at).total_seconds()) if wake else "-",
    )
