"""One line of a run page's timeline, whichever source it comes from (run tracking or the engine's trace)."""

from __future__ import annotations

import re
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
    step: str = ""  # the step an attempt belongs to: the page groups its attempts under it
    attempt: int = 0  # counted from 1, as operators count


#: The policy's wrappers (jobs.causes): the message after them starts with the cause where there is one.
_WRAPPER = re.compile(r"^(?:RetryAfterError|NonRetriableError|StepError): ")
# The policy's retry message ends with "(retry in 160.000s)": the label says when (or that no retry is left).
_RETRY_IN = re.compile(r"\s*\(retry in [\d.]+s\)")


def display_error(text: str) -> str:
    """An attempt's error as an operator reads it: the cause first (no policy wrapper), no "(retry in ...)"."""
    return _RETRY_IN.sub("", _WRAPPER.sub("", text or "", count=1))


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
