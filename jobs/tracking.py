"""Run tracking for any Inngest server: an SDK middleware plus the default `on_failure` recorder.

On the local engine with `JOBS_LEDGER_SOURCE=engine` (its default) the engine writes the ledger itself
(jobs/ledger.py) and the middleware writes nothing for the engine's step requests (they carry its fence header):
it only names, on a function-level error, the step that was executing (`ENGINE_STEP_HEADER`, added to the response
by jobs/serve.py), which the Python SDK's error body leaves out. Everything below is the "sdk" source.

The SDK calls the middleware on every request of a run (one per step), so every write here is an idempotent
upsert keyed by the run id and (step, attempt): a redelivered request rewrites the same rows. Nothing here reads
the local engine's tables: what we know comes from the request the server sent, so Inngest Cloud works the same.

Status rules:
- a step that ran (`StepRun`) or a sleep keeps the run `running`;
- a step error that will be retried (`StepError`) or a retriable function-level error makes it `retrying`;
- the function's return value makes it `completed`;
- a non-retriable error, or an error on the last attempt, makes it `failed`; the `on_failure` recorder (called
  by the server with `inngest/function.failed`) confirms it with the server's own error.
"""

from __future__ import annotations

import logging
import time
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

import inngest
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from nurturehub.redaction import redact
from tenants.models import Tenant

from . import inngest_compat, ledger, traces
from .causes import error_type_of
from .ledger import FUNCTION_BODY_STEP, FUNCTION_FAILED_EVENT, MAX_TEXT, TERMINAL, local_function_id
from .models import EventLog, JobRun, StepAttempt

logger = logging.getLogger(__name__)

__all__ = ["FUNCTION_BODY_STEP", "FUNCTION_FAILED_EVENT", "MAX_TEXT", "TERMINAL", "local_function_id"]
DEFAULT_MAX_ATTEMPTS = inngest_compat.DEFAULT_RETRIES + 1
ENGINE_FENCE_HEADER = "X-Engine-Fence"  # jobs/serve.py's FENCE_HEADER: the request comes from the local engine
ENGINE_STEP_HEADER = "X-Engine-Step"  # the engine's outcomes.STEP_HEADER, read back by its dispatcher
EXECUTING_STEP_ATTR = "nurturehub_executing_step"  # on the request: the step a function-level error came from


def describe_error(error: BaseException) -> tuple[str, str, str]:
    """(error type, one-line message, traceback) of an exception, as stored and shown by the admin."""
    if isinstance(error, inngest.StepError):
        error_type = error.name or "StepError"
        message = error.message
        stack = error.stack or ""
    else:
        error_type = type(error).__name__
        message = str(error)
        stack = "".join(traceback.format_exception(error))
    error_type = error_type_of(error_type, message)  # the policy's wrappers name their cause first
    text = message if message.startswith(f"{error_type}: ") else f"{error_type}: {message}"
    return error_type, redact(text, limit=MAX_TEXT), redact(stack, limit=MAX_TEXT)


def _aware(moment: datetime) -> datetime:
    # The SDK builds RetryAfterError.retry_after from naive local time (datetime.now()).
    return moment.astimezone(UTC) if timezone.is_naive(moment) else moment


def _tenant_id_of(data: Any) -> str | None:
    tenant_id = data.get("tenantId") if isinstance(data, dict) else None
    if not tenant_id:
        return None
    try:
        return str(Tenant.objects.filter(pk=tenant_id).values_list("pk", flat=True).first() or "") or None
    except Exception:  # a malformed id must not break tracking
        return None


def run_ensure(
    *, run_id: str, function_id: str, event_name: str, event_id: str, event_data: Any, event_ts: int | None = None
) -> JobRun:
    """The run's row, created on first sight (concurrent first requests create it once)."""
    run = JobRun.objects.filter(run_id=run_id).first()
    if run is not None:
        return run
    now = timezone.now()
    queue_wait_ms = max(0, int(now.timestamp() * 1000) - event_ts) if event_ts else None
    JobRun.objects.bulk_create(
        [
            JobRun(
                run_id=run_id,
                function_id=function_id[:200],
                tenant_id=_tenant_id_of(event_data),
                event_name=event_name[:256],
                event_id=(event_id or "")[:64],
                event_log_id=EventLog.objects.filter(event_id=event_id).values_list("id", flat=True).first()
                if event_id
                else None,
                status=JobRun.Status.RUNNING,
                started_at=now,
                queue_wait_ms=queue_wait_ms,
            )
        ],
        ignore_conflicts=True,
    )
    return JobRun.objects.get(run_id=run_id)


def step_attempt_upsert(
    *,
    run: JobRun,
    step_id: str,
    step_name: str,
    attempt: int,
    status: str,
    started_at: datetime,
    duration_ms: int,
    error: str = "",
    stack: str = "",
    next_retry_at: datetime | None = None,
) -> None:
    """One row per (run, step, attempt): a redelivered request overwrites its own row, never adds one."""
    row = StepAttempt(
        run=run,
        step_id=step_id[:200],
        step_name=step_name[:200],
        attempt=attempt,
        status=status,
        duration_ms=max(0, duration_ms),
        error=error,
        traceback=stack,
        next_retry_at=next_retry_at,
        started_at=started_at,
    )
    StepAttempt.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["run", "step_id", "attempt"],
        update_fields=["status", "duration_ms", "error", "traceback", "next_retry_at", "step_name"],
    )
    traces.step_attempt(run, row)


def run_mark(run: JobRun, *, status: str, **fields: Any) -> None:
    """Move the run to `status`; a late request never moves a finished run back, nor a cancelled one to done."""
    queryset = JobRun.objects.filter(pk=run.pk)
    if status not in TERMINAL:
        queryset = queryset.exclude(status__in=TERMINAL)
    elif status == JobRun.Status.FAILED:
        queryset = queryset.filter(~Q(status__in=[JobRun.Status.COMPLETED, JobRun.Status.CANCELLED]))
    elif status == JobRun.Status.COMPLETED:
        # A run cancelled while its last step was executing stays cancelled, as the server has it.
        queryset = queryset.exclude(status=JobRun.Status.CANCELLED)
    updated = queryset.update(status=status, updated_at=timezone.now(), **fields)
    if updated and status in TERMINAL and run.status not in TERMINAL:  # once per run, not per late confirmation
        error = fields.get("error") or {}
        traces.run_finished(
            run,
            outcome=status,
            finished_at=fields.get("finished_at") or timezone.now(),
            error=str(error.get("message") or "") if isinstance(error, dict) else "",
        )


def _next_retry(error: BaseException | None, attempt_index: int) -> datetime | None:
    if isinstance(error, inngest.RetryAfterError):
        return _aware(error.retry_after)
    table = inngest_compat.BACKOFF_TABLE_SECONDS
    return timezone.now() + timedelta(seconds=table[min(attempt_index, len(table) - 1)])


class RunTrackingMiddleware(inngest.MiddlewareSync):
    """Records JobRun/StepAttempt from every request the SDK handles; a tracking failure never fails a run."""

    def __init__(self, client: inngest.Inngest, raw_request: object) -> None:
        super().__init__(client, raw_request)
        self._ctx: inngest.ContextSync | None = None
        self._function: inngest.Function[Any] | None = None
        self._request_started = time.monotonic()
        self._request_started_at = timezone.now()
        self._current_step: str | None = None
        self._step_started: float | None = None
        self._sleeps: dict[str, datetime] = {}
        self._first_request = False

    def transform_input(self, ctx: Any, function: Any, steps: Any) -> None:
        self._ctx = ctx
        self._function = function
        self._first_request = inngest_compat.memo_count(steps) == 0  # no step done yet: the run's row is written
        self._request_started = time.monotonic()
        self._request_started_at = timezone.now()
        if isinstance(ctx, inngest.ContextSync) and ctx.event.name != FUNCTION_FAILED_EVENT:
            self._watch_steps(ctx)

    def _watch_steps(self, ctx: inngest.ContextSync) -> None:
        # The SDK reports NonRetriableError/RetryAfterError raised inside a step as a function-level error that
        # no longer names the step; noting which new step was executing keeps the timeline honest.
        original_run = ctx.step.run

        def run(step_id: str, handler: Any, *args: Any, **kwargs: Any) -> Any:
            self._current_step, self._step_started = step_id, time.monotonic()
            result = original_run(step_id, handler, *args, **kwargs)
            self._current_step, self._step_started = None, None  # memoized: it did not execute now
            return result

        original_sleep = ctx.step.sleep

        def sleep(step_id: str, duration: int | timedelta) -> None:
            delay = duration if isinstance(duration, timedelta) else timedelta(milliseconds=duration)
            self._sleeps[step_id] = timezone.now() + delay
            original_sleep(step_id, duration)

        ctx.step.run = run  # type: ignore[method-assign]
        ctx.step.sleep = sleep  # type: ignore[method-assign]

    def _engine_records(self) -> bool:
        """The local engine writes this request's ledger rows itself (jobs/ledger.py): a request from it (its fence
        header) while it is the ledger's source. Asked once per request."""
        if settings.JOBS_LEDGER_SOURCE != "engine":
            return False
        headers = getattr(self.raw_request, "headers", None)
        return headers is not None and ENGINE_FENCE_HEADER in headers

    def transform_output(self, result: inngest.TransformOutputResult) -> None:
        ctx, function = self._ctx, self._function
        if not isinstance(ctx, inngest.ContextSync) or function is None or ctx.event.name == FUNCTION_FAILED_EVENT:
            return
        if self._engine_records():
            if result.error is not None and result.step is None and self._current_step:
                setattr(self.raw_request, EXECUTING_STEP_ATTR, self._current_step)
            return
        try:
            self._record(ctx, function, result)
        except Exception:
            logger.exception("run tracking failed", extra={"run_id": ctx.run_id})

    def _record(
        self, ctx: inngest.ContextSync, function: inngest.Function[Any], result: inngest.TransformOutputResult
    ) -> None:
        """One ledger statement for the request (two for a run's first: its row), through jobs/ledger.py."""
        attempt = ctx.attempt + 1
        started_at = self._request_started_at
        elapsed = timedelta(seconds=time.monotonic() - (self._step_started or self._request_started))
        timing = {"attempt": attempt, "started_at": started_at, "ended_at": started_at + elapsed}
        step, status, output, error = None, "", None, None
        if result.step is not None:
            step, status = self._step_outcome(result, timing)
        elif result.error is not None:
            step, status, error = self._function_error(function, result.error, timing)
        elif result.has_output():
            step = ledger.Step(step="", kind="function", outcome=StepAttempt.Status.COMPLETED, **timing)
            status, output = JobRun.Status.COMPLETED, result.output
        if step is None and not status and not self._first_request:
            return  # planned steps, waits and invokes carry no outcome yet
        change = ledger.Change(
            run_id=ctx.run_id,
            function=function.id,
            event={"name": ctx.event.name, "id": ctx.event.id, "data": ctx.event.data, "ts": ctx.event.ts or None},
            at=timezone.now(),
            status=status,
            output=output,
            error=error,
            first_request_at=started_at if self._first_request else None,
            steps=(step,) if step is not None else (),
        )
        ledger.write(change, first_request=self._first_request)

    def _step_outcome(self, result: inngest.TransformOutputResult, timing: dict) -> tuple[ledger.Step | None, str]:
        op, step_id = inngest_compat.step_opcode(result), inngest_compat.step_id(result) or ""
        if op == inngest_compat.STEP_RUN:
            return ledger.Step(step=step_id, kind="step", outcome="completed", **timing), JobRun.Status.RUNNING
        if op == inngest_compat.SLEEP:
            # A sleep's "name" is its wake-up time; the timeline shows it as the wait before the next step.
            wake = self._sleeps.get(step_id)
            return ledger.Step(step=step_id, kind="sleep", outcome="completed", next_at=wake, **timing), "running"
        if op not in (inngest_compat.STEP_ERROR, inngest_compat.STEP_FAILED):
            return None, ""  # planned, waits and invokes carry no outcome yet
        body = error_body(result.error) if result.error else {"name": "Error", "message": "step failed"}
        if op == inngest_compat.STEP_ERROR:
            next_at = _next_retry(result.error, timing["attempt"] - 1)
            failed = ledger.Step(step=step_id, kind="step", outcome="failed", error=body, next_at=next_at, **timing)
            return failed, JobRun.Status.RETRYING
        return ledger.Step(step=step_id, kind="step", outcome="exhausted", error=body, **timing), "running"

    def _function_error(
        self, function: inngest.Function[Any], error: Exception, timing: dict
    ) -> tuple[ledger.Step | None, str, dict[str, Any]]:
        body = error_body(error)
        if isinstance(error, inngest.StepError):
            # A step that already used up its retries, re-raised from its memo: its own attempts are recorded.
            return None, JobRun.Status.FAILED, body
        retries = inngest_compat.function_retries(function)
        max_attempts = retries + 1 if retries is not None else DEFAULT_MAX_ATTEMPTS
        final = not _retriable(error) or timing["attempt"] >= max_attempts
        step = ledger.Step(
            step=self._current_step or "",
            kind="step" if self._current_step else "function",
            outcome="exhausted" if final else "failed",
            error=body,
            next_at=None if final else _next_retry(error, timing["attempt"] - 1),
            **timing,
        )
        return step, JobRun.Status.FAILED if final else JobRun.Status.RETRYING, body


def error_body(error: BaseException) -> dict[str, Any]:
    """An exception as the SDK sends it to the server ({name, message, stack}); the ledger reads it as
    `describe_error` does (the cause first, redacted)."""
    if isinstance(error, inngest.StepError):
        return {"name": error.name or "StepError", "message": error.message, "stack": error.stack or ""}
    return {"name": type(error).__name__, "message": str(error), "stack": "".join(traceback.format_exception(error))}


def _retriable(error: Exception) -> bool:
    return bool(getattr(error, "is_retriable", True))


def record_failure(ctx: inngest.ContextSync) -> dict[str, str]:
    """The default `on_failure` handler: the server's `inngest/function.failed` event marks the run failed."""
    data = dict(ctx.event.data or {})
    original = data.get("event") or {}
    run_id = str(data.get("run_id") or "")
    if not run_id:
        return {"recorded": "no run id"}
    error = data.get("error") or {}
    error_type = error_type_of(str(error.get("name") or "Error"), str(error.get("message") or ""))
    run = run_ensure(
        run_id=run_id,
        function_id=local_function_id(inngest_app_id(), str(data.get("function_id") or "")),
        event_name=str(original.get("name") or ""),
        event_id=str(original.get("id") or ""),
        event_data=original.get("data") or {},
    )
    run_mark(
        run,
        status=JobRun.Status.FAILED,
        error={
            "name": error_type,
            "message": redact(error.get("message") or "", limit=MAX_TEXT),
            "stack": redact(error["stack"], limit=MAX_TEXT) if error.get("stack") else error.get("stack"),
        },
        error_type=error_type,
        finished_at=run.finished_at or timezone.now(),
    )
    return {"recorded": run_id}


def inngest_app_id() -> str:
    return settings.INNGEST_APP_ID
