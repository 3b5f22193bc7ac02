"""The run page's timeline from the local engine's trace (`jobs.engine.selectors.run_trace`), where it runs.

The trace is richer than run tracking: one span per request and per op, with the error body exactly as the SDK
sent it, a sleep's wake time and a failed attempt's retry time. On Inngest Cloud or self-hosted Inngest there is
no local trace, so `spans_for` returns nothing and the page falls back to run tracking (timeline.py).
Read through the engine app's config, only when it is installed: nothing here imports `jobs.engine`.
"""

from __future__ import annotations

from datetime import datetime

from django.apps import apps

from nurturehub.redaction import redact

from .base import format_duration
from .timeline_entry import TimelineEntry, clock, display_error, sleep_entry


def spans_for(run_id: str) -> list:
    """The engine's spans for this run (oldest first), or [] when the local engine is not installed."""
    if not run_id or not apps.is_installed("jobs.engine"):
        return []
    return apps.get_app_config("engine").run_trace(run_id)


#: Ops shown beside an attempt's step: the others (a step's run, the function's own error) say nothing more.
_PLAIN_OPS = frozenset({"StepRun", "Step", "FunctionError", "StepError", "StepFailed", "RunComplete"})


def span_entry(span, *, now: datetime, step_name: str = "") -> TimelineEntry:
    """One span as a timeline entry (attempts are shown from 1, as run tracking counts them). `step_name`: the
    step a function-level error came from, where run tracking knows it."""
    title = span.step_name or step_name or "function body"
    if span.op == "Sleep":
        return sleep_entry(span.step_id, title, span.started_at, span.wake_at, now=now)
    error, traceback = _error_text(span.error)
    if span.status == "completed":
        label = "completed"
    elif span.status == "planned":
        label = "planned (parallel step)"
    elif span.status == "sleeping":  # a wait_for_event or invoke, waiting until its timeout at the latest
        label = f"waiting, at most until {clock(span.wake_at)}" if span.wake_at else "waiting"
    elif span.status == "retrying" and span.retry_at:
        after = format_duration(max(0.0, (span.retry_at - span.ended_at).total_seconds()))
        label = f"failed; retry at {clock(span.retry_at)} (after {after})"
    elif span.status == "retrying":
        label = "failed; will retry"
    else:
        label = "failed; no retries left"
    op = "" if span.op in _PLAIN_OPS else f" ({span.op})"
    return TimelineEntry(
        kind="attempt",
        step_id=span.step_id,
        title=f"{title}, attempt {span.attempt + 1}{op}",
        status="exhausted" if span.status == "failed" else ("failed" if span.status == "retrying" else span.status),
        status_label=label,
        started_at=span.started_at,
        duration=format_duration((span.ended_at - span.started_at).total_seconds()),
        error=display_error(error),
        traceback=traceback,
        step=f"{title}{op}",
        attempt=span.attempt + 1,
    )


def _error_text(error: object) -> tuple[str, str]:
    """The SDK's error body ({name, message, stack}) as a one-line error and a readable traceback."""
    if not error:
        return "", ""
    if not isinstance(error, dict):
        return redact(error), ""
    name, message = error.get("name") or "Error", error.get("message") or ""
    return redact(f"{name}: {message}"), redact(error.get("stack") or "")
