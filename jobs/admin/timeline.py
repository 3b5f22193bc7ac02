"""A run's timeline, in one function: from the local engine's trace where it runs (engine_timeline.py), else
from what run tracking recorded (StepAttempt rows; any Inngest server).

`run_timeline(job_run)` is the one place the run page gets its timeline from.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from jobs.models import JobRun, StepAttempt

from .base import format_duration
from .engine_timeline import span_entry, spans_for
from .timeline_entry import TimelineEntry, clock, display_error, sleep_entry


def _attempt_entry(attempt: StepAttempt, *, now: datetime) -> TimelineEntry:
    ended = attempt.started_at + timedelta(milliseconds=attempt.duration_ms)
    if attempt.step_name == "sleep":
        return sleep_entry(attempt.step_id, attempt.step_id, attempt.started_at, attempt.next_retry_at, now=now)
    title = "function body" if attempt.step_id == "(function)" else attempt.step_id
    error = attempt.error
    if attempt.status == StepAttempt.Status.COMPLETED:
        label = "completed"
    elif attempt.status == StepAttempt.Status.FAILED:
        if attempt.next_retry_at:
            after = format_duration(max(0.0, (attempt.next_retry_at - ended).total_seconds()))
            label = f"failed; retry at {clock(attempt.next_retry_at)} (after {after})"
        else:
            label = "failed; will retry"
    else:
        label = "failed; no retries left"
    return TimelineEntry(
        kind="attempt",
        step_id=attempt.step_id,
        title=f"{title}, attempt {attempt.attempt}",
        status=attempt.status,
        status_label=label,
        started_at=attempt.started_at,
        duration=format_duration(attempt.duration_ms / 1000),
        error=display_error(error),
        traceback=attempt.traceback,
        step=title,
        attempt=attempt.attempt,
    )


def _end_entry(run: JobRun, next_retry_at: datetime | None, *, now: datetime) -> TimelineEntry | None:
    finished = run.finished_at
    if run.status == JobRun.Status.COMPLETED:
        return TimelineEntry("end", "", "Run completed", "completed", "completed", finished, "-")
    if run.status == JobRun.Status.FAILED:
        message = (run.error or {}).get("message", "") if isinstance(run.error, dict) else ""
        return TimelineEntry(
            "end",
            "",
            "Run failed",
            "failed",
            f"failed: {run.error_type or 'error'}",
            finished,
            "-",
            error=display_error(message),
        )
    if run.status == JobRun.Status.CANCELLED:
        return TimelineEntry(
            "end",
            "",
            "Run cancelled",
            "cancelled",
            "cancelled on the Inngest server; nothing ran after this",
            finished,
            "-",
        )
    if run.status == JobRun.Status.RETRYING and next_retry_at:
        return TimelineEntry(
            "end", "", "Waiting to retry", "retrying", f"next attempt at {clock(next_retry_at)}", None, "-"
        )
    return None


def run_timeline(job_run: JobRun) -> list[TimelineEntry]:
    """Every attempt and sleep of the run in order, then how it ended (completed, failed, cancelled, waiting).

    The local engine's trace when it has this run (one span per request and op, the SDK's own error bodies);
    otherwise run tracking's rows, which every Inngest server produces."""
    now = timezone.now()
    spans = spans_for(job_run.run_id)
    if spans:
        timed = []
        failing_steps = _failing_steps(job_run)
        for span in spans:
            end = span.wake_at if span.op == "Sleep" and span.wake_at else span.ended_at
            step = failing_steps.get(span.attempt + 1, []) if not span.step_name and span.status != "completed" else []
            timed.append((span_entry(span, now=now, step_name=step.pop(0) if step else ""), end))
        next_retry_at = spans[-1].retry_at
    else:
        attempts = list(job_run.step_attempts.order_by("started_at", "id"))
        timed = []
        for attempt in attempts:
            if attempt.step_name == "sleep" and attempt.next_retry_at:
                end = attempt.next_retry_at
            else:
                end = attempt.started_at + timedelta(milliseconds=attempt.duration_ms)
            timed.append((_attempt_entry(attempt, now=now), end))
        next_retry_at = attempts[-1].next_retry_at if attempts else None
    entries: list[TimelineEntry] = []
    previous_end: datetime | None = None
    for entry, end in timed:
        if previous_end is not None and entry.started_at is not None:
            gap = (entry.started_at - previous_end).total_seconds()
            if gap >= 0.001:
                entry = TimelineEntry(**{**entry.__dict__, "gap_before": format_duration(gap)})
        entries.append(entry)
        previous_end = end
    end_entry = _end_entry(job_run, next_retry_at, now=now)
    if end_entry is not None:
        entries.append(end_entry)
    return entries


def _failing_steps(job_run: JobRun) -> dict[int, list[str]]:
    """Run tracking's failed attempts by attempt number, in order: the step a failing request ran.

    When a step raises, the SDK answers with the function's error (op FunctionError, no step in the engine's
    span); the app's run tracking recorded which step it was, so the timeline names it."""
    steps: dict[int, list[str]] = {}
    failed = (
        job_run.step_attempts.exclude(status=StepAttempt.Status.COMPLETED)
        .exclude(step_name="sleep")
        .exclude(step_id="(function)")
        .order_by("started_at", "id")
    )
    for step_id, attempt in failed.values_list("step_id", "attempt"):
        steps.setdefault(attempt, []).append(step_id)
    return steps


def run_display_status(job_run: JobRun, entries: list[TimelineEntry]) -> tuple[str, str]:
    """(css status, words): a running run whose last entry is an unfinished sleep reads "sleeping until ..."."""
    if job_run.status == JobRun.Status.RUNNING and entries and entries[-1].status == "sleeping":
        return "sleeping", entries[-1].status_label
    return job_run.status, job_run.get_status_display().lower()
