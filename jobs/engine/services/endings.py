"""Ending runs: completed, failed (emitting Inngest's `inngest/function.failed` and `.finished`) or cancelled.

Called inside the transaction that applies an answer (answers.py) or, for a cancel, in its own.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ..models import Run
from ..outcomes import error_body
from ..protocol import IncomingEvent, datetime_to_ms
from ..queries import statement
from ..trace import Span, spans_json
from . import ledger_feed
from .intake import system_events_store, work_notify

logger = logging.getLogger(__name__)

_COMPLETE_SQL = statement("run_complete")
_LEFTOVERS_DELETE_SQL = statement("run_leftovers_delete")


def failure_event_error(error: dict[str, Any], *, http_status: int | None) -> dict[str, Any]:
    """The `error` of `inngest/function.failed` / `.finished`, shaped as Inngest shapes it.

    Inngest sends `DriverResponse.StandardError()` (pkg/execution/state/driver_response.go): `error` is the
    driver's error, "invalid status code: <n>" for a non-2xx answer (driver/httpdriver/httpdriver.go), then the
    body's `name` (default "Error"), `message` (default "Function execution error") and `stack` (left out when
    empty). The SDK's `code` is not part of it.
    """
    message = str(error.get("message") or "Function execution error")
    shaped: dict[str, Any] = {
        "error": f"invalid status code: {http_status}" if http_status else message,
        "name": str(error.get("name") or "Error"),
        "message": message,
    }
    if error.get("stack"):
        shaped["stack"] = error["stack"]
    return shaped


def run_complete(run: Run, output: Any, *, now: datetime, spans: list[Span] | None = None) -> None:
    """Complete the run, remove what it leaves behind and add `spans` to its trace (emptied: written), in one
    statement; then emit `inngest/function.finished`."""
    run.status, run.output, run.ended_at = Run.Status.COMPLETED, output, now
    with connection.cursor() as cursor:
        cursor.execute(
            _COMPLETE_SQL,
            {
                "run": run.pk,
                "spans": spans_json(spans or []),
                "status": run.status,
                "output": json.dumps(output),
                "now": now,
                "steps_done": run.steps_done,
            },
        )
    if spans:
        spans.clear()
    if _announces_result(run):
        system_events_store([_finished_event(run, {"result": output}, now=now)], now=now)


def run_fail(run: Run, error: dict[str, Any], *, http_status: int | None, now: datetime) -> None:
    """Fail the run and emit Inngest's `function.failed` (its id is the run id) and `function.finished`."""
    run.status, run.error, run.ended_at = Run.Status.FAILED, error, now
    run.save(update_fields=["status", "error", "ended_at", "force_step_plan", "steps_done"])
    with connection.cursor() as cursor:
        _leftovers_delete(cursor, run)
    _announce_error(run, "inngest/function.failed", failure_event_error(error, http_status=http_status), now=now)


def _leftovers_delete(cursor: Any, run: Run) -> int:
    """What an ended run leaves behind goes in one statement: its queue items, the waits and invokes it had pending,
    and its stored `step.ai.infer` requests (their options hold the provider's key). Returns the items removed."""
    cursor.execute(_LEFTOVERS_DELETE_SQL, {"run": run.pk})
    return cursor.rowcount


RESULT_EVENTS = ("inngest/function.finished", "inngest/function.failed", "inngest/function.cancelled")


def _announces_result(run: Run) -> bool:
    """Runs started by a finished/failed event announce nothing: a listener must not trigger itself forever."""
    return not (run.events and run.events[0].get("name") in RESULT_EVENTS)


def _announce_error(run: Run, name: str, error: dict[str, Any], *, now: datetime) -> None:
    """Emit `name` (`inngest/function.failed` or `.cancelled`, its id the run id) and `inngest/function.finished`
    with the run's error, as Inngest does; nothing for a run started by such an event (see `_announces_result`)."""
    if not _announces_result(run):
        return
    ended = IncomingEvent(
        name=name,
        data={**_run_event_data(run), "error": error, "_inngest": {"status": run.status}},
        ts=datetime_to_ms(now),
        external_id=run.run_id,
    )
    system_events_store([ended, _finished_event(run, {"error": error}, now=now)], now=now)


def _finished_event(run: Run, result: dict[str, Any], *, now: datetime) -> IncomingEvent:
    # An invoked run's finish carries the invoke's correlation id, which resumes its caller (pauses.py); Inngest
    # copies it from the invocation event's `_inngest` (executor.go functionFinishedData `correlation_id`).
    data = (run.events or [{}])[0].get("data")
    meta = data.get("_inngest") if isinstance(data, dict) else None
    correlation = meta.get("correlation_id") if isinstance(meta, dict) else None
    return IncomingEvent(
        name="inngest/function.finished",
        data={
            **_run_event_data(run),
            **result,
            **({"correlation_id": correlation} if isinstance(correlation, str) and correlation else {}),
            "_inngest": {"status": run.status},
        },
        ts=datetime_to_ms(now),
        external_id="",
    )


def _run_event_data(run: Run) -> dict[str, Any]:
    events = run.events or []
    return {
        "function_id": run.function.slug,
        "run_id": run.run_id,
        "event": {**events[0], "user": {}} if events else {},
        "events": events,
    }


# --- Cancelling -----------------------------------------------------------------------------------------


class RunNotFound(LookupError):
    """No run has that id."""


class RunAlreadyFinished(ValueError):
    """The run has ended (completed, failed or cancelled): there is nothing to cancel."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.run_id} already {run.status}; it cannot be cancelled")
        self.status = run.status


def run_cancel(*, run_id: str, reason: str = "") -> Run:
    """Cancel a queued, sleeping or between-steps run now (Inngest's `DELETE /v1/runs/{id}`).

    `reason` says why when the engine itself cancels (a timeout, a singleton). Every queue item of the run goes,
    leased ones too: a step already executing finishes in the app, but its
    answer then finds no lease and nothing follows it. Emits `inngest/function.cancelled` like Inngest does.
    """
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).select_related("function").filter(run_id=run_id).first()
        if run is None:
            raise RunNotFound(f"no run with id {run_id!r}")
        if run.status in Run.FINISHED:
            raise RunAlreadyFinished(run)
        error = error_body("FunctionCancelled", "function cancelled")
        # Why the engine cancelled it (a timeout, a singleton), kept on the run; the event's error is Inngest's.
        kept = {**error, "reason": reason} if reason else error
        run.status, run.error, run.ended_at = Run.Status.CANCELLED, kept, now
        run.save(update_fields=["status", "error", "ended_at"])
        with connection.cursor() as cursor:
            removed = _leftovers_delete(cursor, run)
        _announce_error(run, "inngest/function.cancelled", error, now=now)
        # Its concurrency slots are free now, and a `function.cancelled` may have started runs: wake the
        # dispatchers, which would otherwise find that work only at a timer (a cancel by HTTP, not by them).
        work_notify()
        ledger_feed.run_cancelled(run, now=now)
    logger.info("run cancelled", extra={"run_id": run.run_id, "queue_items_removed": removed})
    return run
