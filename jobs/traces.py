"""Run traces to OpenTelemetry: each run one trace, each step attempt one span, exported over OTLP/HTTP.

Called by the run ledger's own write points (jobs/ledger.py when a change commits, jobs/tracking.py `run_mark` for
the `on_failure` recorder, jobs/cancel.py), so whoever writes the ledger (the local engine's listener in the
dispatcher, or the SDK middleware on Inngest Cloud; JOBS_LEDGER_SOURCE) traces it.

- On only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (settings): the exporter posts to `<endpoint>/v1/traces`, as
  the OTLP exporter spec builds a signal's URL from the non-signal variable. Unset, a write point costs one global
  read (`bench/tracing.py` measures it) and the SDK is never imported. The exporter's other standard variables
  (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`) are read by the SDK itself.
- Never in a step's way: spans go through the SDK's BatchSpanProcessor, a bounded in-memory queue (2,048 spans by
  default, `OTEL_BSP_MAX_QUEUE_SIZE`) exported from its own thread; an endpoint that is down or hangs holds that
  thread only, and when the queue is full the oldest spans are dropped. A tracing fault is logged, never raised.
- Ids derived from the run, so a retry, a redelivered request or a restarted process never opens a second trace:
  trace id = the first 16 bytes of SHA-256 over the run id; the run's span and each (step, attempt) span get
  8 bytes the same way. The trace SDK spec requires random ids by default and a way to customise their generation
  (its IdGenerator); W3C Trace Context asks only that ids be unique and not all zero. These are hashes, not random
  draws, so the generator does not claim the "random trace id" flag (`is_trace_id_random` stays False); their
  low bits are still uniform over run ids (SHA-256), which is what a TraceIdRatioBased sampler relies on.
- The run's span (name: the function) is exported when the run finishes (completed, failed, cancelled), from its
  start to its end; each attempt's span (name: the step) is its child, exported when the attempt is recorded.
  Attributes: `nurturehub.function`, `nurturehub.tenant`, `nurturehub.run_id`, `nurturehub.step`,
  `nurturehub.attempt`, `nurturehub.outcome`, and on a failure `nurturehub.error` with the span's status ERROR
  and an `exception` event (message and traceback, both already redacted by the ledger). No step output.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
FAILED_OUTCOMES = ("failed", "exhausted")

_OFF = False
_UNSET = object()
_tracer: Any = _UNSET  # the SDK's tracer, _OFF, or _UNSET until the first write point decides
_provider: Any = None
_lock = threading.Lock()
# The ids the next span must take (read by the id generator while the SDK starts the span).
_next_ids: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("nurturehub_next_ids", default=None)


def _derived(*parts: str, size: int) -> int:
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:size], "big") or 1  # an all-zero id is invalid (W3C Trace Context)


def trace_id_of(run_id: str) -> int:
    return _derived("nurturehub-run", run_id, size=16)


def run_span_id_of(run_id: str) -> int:
    return _derived("nurturehub-run-span", run_id, size=8)


def attempt_span_id_of(run_id: str, step_id: str, attempt: int) -> int:
    return _derived("nurturehub-attempt", run_id, step_id, str(attempt), size=8)


def _build() -> Any:
    """The tracer when an endpoint is set, else _OFF. The SDK is imported only here."""
    endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT
    if not endpoint:
        return _OFF
    import random

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class DerivedIds(IdGenerator):
        """The ids `_next_ids` holds while a ledger span starts; random ones otherwise."""

        def generate_trace_id(self) -> int:
            ids = _next_ids.get()
            return ids[0] if ids else random.getrandbits(128)

        def generate_span_id(self) -> int:
            ids = _next_ids.get()
            return ids[1] if ids else random.getrandbits(64)

    global _provider
    _provider = TracerProvider(
        resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}), id_generator=DerivedIds()
    )
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH)))
    return _provider.get_tracer("nurturehub.jobs")


def _get_tracer() -> Any:
    tracer = _tracer
    if tracer is _UNSET:
        with _lock:
            if _tracer is _UNSET:
                globals()["_tracer"] = _build()
            tracer = _tracer
    return tracer


def flush() -> None:
    """Export what is queued now (tests; a process about to exit). The SDK also flushes at interpreter exit."""
    if _provider is not None:
        _provider.force_flush()


def reset() -> None:
    """Shut the exporter down and decide again from the settings at the next write point (tests)."""
    global _tracer, _provider
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _tracer, _provider = _UNSET, None


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def _start(tracer: Any, name: str, *, ids: tuple[int, int], parent: Any, start: datetime, attributes: dict) -> Any:
    token = _next_ids.set(ids)
    try:
        return tracer.start_span(name, context=parent, start_time=_nanos(start), attributes=attributes)
    finally:
        _next_ids.reset(token)


def _fail(span: Any, error: str, stack: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("nurturehub.error", error)
    span.add_event("exception", {"exception.message": error, "exception.stacktrace": stack})
    span.set_status(Status(StatusCode.ERROR, error.splitlines()[0] if error else "failed"))


def _run_attributes(run: Any) -> dict[str, str]:
    return {
        "nurturehub.function": run.function_id,
        "nurturehub.tenant": str(run.tenant_id or ""),
        "nurturehub.run_id": run.run_id,
    }


def step_attempt(run: Any, row: Any) -> None:
    """One step attempt as the ledger recorded it (its StepAttempt row): a span, child of the run's span."""
    tracer = _tracer if _tracer is not _UNSET else _get_tracer()
    if tracer is _OFF:
        return
    try:
        from opentelemetry import trace

        step_id, attempt, outcome, started_at = row.step_id, row.attempt, row.status, row.started_at
        trace_id = trace_id_of(run.run_id)
        parent = trace.set_span_in_context(
            trace.NonRecordingSpan(
                trace.SpanContext(
                    trace_id,
                    run_span_id_of(run.run_id),
                    is_remote=False,
                    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
                )
            )
        )
        span = _start(
            tracer,
            step_id,
            ids=(trace_id, attempt_span_id_of(run.run_id, step_id, attempt)),
            parent=parent,
            start=started_at,
            attributes={
                **_run_attributes(run),
                "nurturehub.step": step_id,
                "nurturehub.attempt": attempt,
                "nurturehub.outcome": outcome,
            },
        )
        if outcome in FAILED_OUTCOMES:
            _fail(span, row.error, row.traceback)
        span.end(end_time=_nanos(started_at + timedelta(milliseconds=row.duration_ms)))
    except Exception:
        logger.exception("tracing a step attempt failed", extra={"run_id": getattr(run, "run_id", "")})


def run_finished(run: Any, *, outcome: str, finished_at: datetime, error: str = "") -> None:
    """A run that reached a final status: its span, the trace's root, from its start to `finished_at`."""
    tracer = _tracer if _tracer is not _UNSET else _get_tracer()
    if tracer is _OFF:
        return
    try:
        from opentelemetry.context import Context

        span = _start(
            tracer,
            run.function_id,
            ids=(trace_id_of(run.run_id), run_span_id_of(run.run_id)),
            parent=Context(),  # the root: no ambient span (a request's, say) may adopt it
            start=run.started_at,
            attributes={**_run_attributes(run), "nurturehub.outcome": outcome},
        )
        if outcome == "failed":
            _fail(span, error, "")
        span.end(end_time=_nanos(max(finished_at, run.started_at)))
    except Exception:
        logger.exception("tracing a run failed", extra={"run_id": getattr(run, "run_id", "")})
