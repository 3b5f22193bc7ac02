"""The engine's non-trivial reads: queue depth and the run trace (for the admin and /v0/gql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone

from .models import QueueItem, Run, RunSpan, StepMemo


@dataclass(frozen=True)
class QueueDepth:
    function_slug: str
    queue_key: str
    ready: int
    scheduled: int
    in_flight: int
    oldest_ready_at: datetime | None


def queue_depths() -> list[QueueDepth]:
    """Work waiting per function and key queue: ready now, scheduled for later (backoff, sleep), in flight."""
    now = timezone.now()
    ready = Q(lease_owner__isnull=True, available_at__lte=now)
    rows = (
        QueueItem.objects.values("function__slug", "queue_key")
        .annotate(
            ready=Count("id", filter=ready),
            scheduled=Count("id", filter=Q(lease_owner__isnull=True, available_at__gt=now)),
            in_flight=Count("id", filter=Q(lease_owner__isnull=False)),
            oldest_ready_at=Min("available_at", filter=ready),
        )
        .order_by("function__slug", "queue_key")
    )
    return [
        QueueDepth(
            function_slug=row["function__slug"],
            queue_key=row["queue_key"],
            ready=row["ready"],
            scheduled=row["scheduled"],
            in_flight=row["in_flight"],
            oldest_ready_at=row["oldest_ready_at"],
        )
        for row in rows
    ]


# --- The run trace ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceSpan:
    """One request or op of a run, as the SDK answered it (see RunSpan)."""

    span_id: str
    step_id: str  # the step's hashed id; "" for a function-level answer
    step_name: str  # the user's step id ("" for a function-level answer)
    op: str
    attempt: int
    status: str
    http_status: int | None
    started_at: datetime
    ended_at: datetime
    output: object
    error: object
    wake_at: datetime | None
    retry_at: datetime | None


@dataclass(frozen=True)
class TraceStep:
    """A step's spans together (its attempts, planned first when it was planned); `result` holds its last outcome."""

    step_id: str
    name: str
    spans: list[TraceSpan]

    @property
    def result(self) -> TraceSpan | None:
        """The last span with an output or an error (what GraphQL calls the step's output)."""
        return next((span for span in reversed(self.spans) if span.status != "planned"), None)


def run_trace(run_id: str) -> list[TraceSpan]:
    """Every span of a run in the order they started: what the admin's timeline and `/v0/gql` show."""
    return [_trace_span(span) for span in RunSpan.objects.filter(run__run_id=run_id).order_by("started_at", "id")]


def run_trace_steps(spans: list[TraceSpan]) -> list[TraceStep]:
    """Group a trace's step spans by step, in the order each step first appears (function-level spans left out)."""
    steps: dict[str, list[TraceSpan]] = {}
    for span in spans:
        if span.step_id:
            steps.setdefault(span.step_id, []).append(span)
    return [TraceStep(step_id=key, name=group[-1].step_name, spans=group) for key, group in steps.items()]


def trace_span_get(span_id: str) -> TraceSpan | None:
    span = RunSpan.objects.filter(span_id=span_id).first()
    return _trace_span(span) if span else None


def _trace_span(span: RunSpan) -> TraceSpan:
    return TraceSpan(
        span_id=span.span_id,
        step_id=span.step_id,
        step_name=span.step_name,
        op=span.op,
        attempt=span.attempt,
        status=span.status,
        http_status=span.http_status,
        started_at=span.started_at,
        ended_at=span.ended_at,
        output=span.output,
        error=span.error,
        wake_at=span.wake_at,
        retry_at=span.retry_at,
    )


# --- A run's state for an SDK told to fetch it (`use_api`) ----------------------------------------------


def run_events(run_id: str) -> list[dict[str, object]] | None:
    """The events a run was started with (`GET /v0/runs/<id>/batch`); None for an unknown run."""
    events = Run.objects.filter(run_id=run_id).values_list("events", flat=True).first()
    return None if events is None else list(events)


def run_memos(run_id: str) -> dict[str, object] | None:
    """The run's memos by hashed step id (`GET /v0/runs/<id>/actions`); None for an unknown run."""
    run = Run.objects.filter(run_id=run_id).only("id").first()
    if run is None:
        return None
    return dict(StepMemo.objects.filter(run=run).order_by("position").values_list("hashed_id", "memo"))
