"""Applying the SDK's answer to a leased queue item: memos, the next items, the run's status and its trace.

One transaction per answer. The state machine follows Inngest's executor (pkg/execution/executor/executor.go,
`HandleGeneratorResponse` and `handleGenerator*`): a step's memo and the queue item that moves the run on are
written together, so a crash repeats at most the one request whose answer was not yet stored, never a step whose
memo was. Ending a run and the `inngest/function.*` events it emits are in endings.py.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .. import hooks
from ..clock import scaled
from ..models import QueueItem, Run, RunSpan
from ..outcomes import CallResponse, Outcome, Result, error_body
from ..protocol import parse_sleep_until
from ..queries import statement
from ..trace import spans_insert
from . import ledger_feed
from .answer_rows import (
    item_delete,
    item_lock,
    item_retry,
    item_to_discovery,
    memo_save,
    not_yet_planned,
    planned_item,
    run_save_progress,
)
from .endings import run_complete, run_fail
from .progress import Answer, retry_delay, step_done, step_run_inline_done

logger = logging.getLogger(__name__)

_REQUEST_VERSION_SAVE_SQL = statement("run_request_version_save")

CORE_OPS = ("StepRun", "StepPlanned", "Sleep", "StepError", "StepFailed", "RunComplete")  # the rest: hooks.opcode
FUNCTION_ERROR_OP = "FunctionError"  # a span for a 4xx/5xx (or no) answer: no opcode, an error body
RETURN_OP = "RunComplete"  # a span for a 200 answer: Inngest treats it as the RunComplete opcode

SpanStatus = RunSpan.Status


def call_response_apply(*, item_id: int, owner: str, response: CallResponse, generation: int) -> Outcome:
    """Apply the SDK's answer to a leased item: memos, next items, run status, trace; all or nothing.

    Only for the request it answers: `generation` is the item's when the request was built. An item moved on
    since (the next step, a retry) refuses the answer, whichever claim's token it comes under.
    """
    now = timezone.now()
    with transaction.atomic():
        item = item_lock(item_id=item_id, owner=owner)
        if item is None:
            return Outcome(Result.LEASE_LOST)
        if item.generation != generation:
            logger.warning(
                "answer for an older request of the item refused",
                extra={"item": item_id, "generation": generation, "current": item.generation},
            )
            return Outcome(Result.STALE_ANSWER)
        answer = Answer(item=item, run=item.run, response=response, now=now)
        first_request = item.is_discovery and item.attempt == 0 and item.run.steps_done == 0
        outcome = _apply(answer)
        spans_insert(answer.run.pk, answer.spans)
        ledger_feed.answer_applied(answer, outcome, first_request=first_request)
    return outcome


def _apply(answer: Answer) -> Outcome:
    run, item, response = answer.run, answer.item, answer.response
    if run.status in Run.FINISHED:
        item_delete(item)
        return Outcome(Result.STALE)
    if response.status == 200 and response.from_sdk:
        answer.span(op=RETURN_OP, status=SpanStatus.COMPLETED, output=response.body)
        run_complete(run, response.body, now=answer.now)
        return Outcome(Result.COMPLETED)
    if response.status == 206 and response.from_sdk:
        ops = response.body if isinstance(response.body, list) else [response.body]
        if ops and all(isinstance(op, dict) and op.get("op") for op in ops):
            _keep_request_version(answer)
            outcome = _apply_ops(answer, ops)
            if answer.request_version_unsaved:  # written here unless the answer's own statement wrote it
                with connection.cursor() as cursor:
                    cursor.execute(_REQUEST_VERSION_SAVE_SQL, [run.request_version, run.pk])
            return outcome
        return _attempt_failed(answer, error_body("InvalidResponse", "206 without opcodes from the SDK"))
    return _attempt_failed(answer, _responseerror_body(response))


def _keep_request_version(answer: Answer) -> None:
    """Inngest keeps the request version the SDK first answers with (executor.go HandleGeneratorResponse).

    Written with the answer's other rows (the inline step's statement carries it), in the same transaction.
    """
    run, response = answer.run, answer.response
    if run.request_version == -1 and response.request_version is not None:
        run.request_version = response.request_version
        answer.request_version_unsaved = True


def _apply_ops(answer: Answer, ops: list[dict[str, Any]]) -> Outcome:
    run, item, now = answer.run, answer.item, answer.now
    for op in ops:
        if op["op"] not in CORE_OPS and hooks.opcode_handler(op["op"]) is None:
            what = f"opcode {op['op']!r}"
            step = op.get("displayName") or op.get("name")
            error = error_body(
                "UnsupportedOperation",
                f"{what} (step {step!r}) is not supported by the local engine; run this function on Inngest",
            )
            answer.span(op=str(op["op"]), status=SpanStatus.FAILED, step_id=str(op.get("id", "")), error=error)
            run_fail(run, error, http_status=None, now=now)
            return Outcome(Result.FAILED, step=str(op.get("displayName", "")), detail={"error": error["message"]})
    complete = next((op for op in ops if op["op"] == "RunComplete"), None)
    if complete is not None:
        # The SDK ended the run inside a 206 (inngest-js v4 checkpointing); Inngest finalises the run with the op's
        # data as its output (executor.go handleGeneratorFunctionFinished, executor.go functionFinishedData).
        answer.span(op="RunComplete", status=SpanStatus.COMPLETED, output=complete.get("data"))
        run_complete(run, complete.get("data"), now=now)
        return Outcome(Result.COMPLETED)
    if len(ops) == 1 and ops[0]["op"] == "StepRun" and item.is_discovery and not run.force_step_plan:
        return step_run_inline_done(answer, ops[0])
    if len(ops) > 1:
        run.force_step_plan = True
    done = False
    planned: list[QueueItem] = []
    wake_at: datetime | None = None
    waiting = False  # a wait_for_event or invoke is pending (pauses.py): its timeout item is queued
    step_name = ""
    for op in ops:
        kind, hashed_id = op["op"], str(op.get("id", ""))
        name = str(op.get("displayName") or op.get("name") or hashed_id)
        step_name = name
        ids = {"step_id": hashed_id, "step_name": name}
        if kind == "StepRun":
            answer.span(op=kind, status=SpanStatus.COMPLETED, output=op.get("data"), **ids)
            memo_save(run, hashed_id, name, {"data": op.get("data")}, now=now)
            done = True
        elif kind == "StepError" and not answer.response.no_retry and item.attempt + 1 < item.max_attempts:
            delay = retry_delay(item.attempt, answer.response, now=now)
            answer.span(op=kind, status=SpanStatus.RETRYING, error=op.get("error"), retry_at=now + delay, **ids)
            item_retry(item, delay, now=now)
            run_save_progress(run)
            return Outcome(Result.RETRY, step=name, detail={"retry_in_ms": round(delay.total_seconds() * 1000)})
        elif kind in ("StepError", "StepFailed"):
            answer.span(op=kind, status=SpanStatus.FAILED, error=op.get("error"), **ids)
            memo_save(run, hashed_id, name, {"error": op.get("error") or error_body("Error", "step failed")}, now=now)
            done = True
        elif kind == "Sleep":
            until = parse_sleep_until(op.get("name"), op.get("opts"), now=now)
            wake = now + scaled(until - now)
            wake_at = max(wake_at, wake) if wake_at else wake
            answer.span(op=kind, status=SpanStatus.SLEEPING, wake_at=wake, **ids)
            memo_save(run, hashed_id, name, None, now=now)
        elif kind == "StepPlanned":
            planned.append(planned_item(run, item, hashed_id, name, op, now=now))
        else:  # a feature's op (hooks.opcode): step.ai.infer, wait_for_event, invoke
            effect = hooks.opcode_handler(kind)(answer, op, hashed_id, name)
            if isinstance(effect, hooks.Planned):  # a step the engine itself runs (ai_gateway.py)
                planned.append(planned_item(run, item, hashed_id, name, {}, now=now))
            elif isinstance(effect, hooks.Waiting):
                waiting = True
            else:  # answered at once (an invalid op, an unknown function): the SDK raises the error
                memo_save(run, hashed_id, name, effect.value, now=now)
                done = True
    if planned:
        planned = not_yet_planned(run, planned)
        QueueItem.objects.bulk_create(planned, ignore_conflicts=True)
        for queued in planned:  # a step planned again (and ignored) adds nothing to the trace
            answer.span(
                op="StepPlanned",
                status=SpanStatus.PLANNED,
                attempt=0,
                step_id=queued.step_id,
                step_name=queued.step_name,
            )
    if wake_at is not None and not planned and not waiting:
        item_to_discovery(item, available_at=wake_at)
        run_save_progress(run)
        return Outcome(
            Result.SLEEP, step=step_name, detail={"wake_in_ms": round((wake_at - now).total_seconds() * 1000)}
        )
    if planned or (waiting and not done):
        item_delete(item)
        run_save_progress(run)
        if not planned:
            return Outcome(Result.WAITING, step=step_name)
        return Outcome(Result.PLANNED, detail={"planned": len(planned)})
    if done:
        return step_done(run, item, step_name, now=now)
    item_delete(item)
    run_save_progress(run)
    return Outcome(Result.NOOP, step=step_name)


def _attempt_failed(answer: Answer, error: dict[str, Any]) -> Outcome:
    run, item, response, now = answer.run, answer.item, answer.response, answer.now
    step_id, step_name = answer.step_span_ids()
    # Like Inngest: obey no-retry; an SDK's 4xx is final; anything else (5xx, no answer, not the SDK) is retried.
    final = response.no_retry or (response.from_sdk and response.status is not None and 400 <= response.status < 500)
    if not final and item.attempt + 1 < item.max_attempts:
        delay = retry_delay(item.attempt, response, now=now)
        answer.span(
            op=FUNCTION_ERROR_OP,
            status=SpanStatus.RETRYING,
            step_id=step_id,
            step_name=step_name,
            error=error,
            retry_at=now + delay,
        )
        item_retry(item, delay, now=now)
        return Outcome(
            Result.RETRY, detail={"error": error.get("message", ""), "retry_in_ms": round(delay.total_seconds() * 1000)}
        )
    answer.span(op=FUNCTION_ERROR_OP, status=SpanStatus.FAILED, step_id=step_id, step_name=step_name, error=error)
    run_fail(run, error, http_status=response.status, now=now)
    return Outcome(Result.FAILED, detail={"error": error.get("message", "")})


def _responseerror_body(response: CallResponse) -> dict[str, Any]:
    """The run's error: the SDK's error body exactly as sent (Inngest stores the body as the run's output)."""
    body = response.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body
    if response.status is None:
        return error_body("RequestFailed", f"the serve endpoint could not be reached: {response.transport_error}")
    if not response.from_sdk:
        return error_body("InvalidResponse", f"HTTP {response.status} from something that is not the Inngest SDK")
    return error_body("Error", f"HTTP {response.status} from the SDK")
