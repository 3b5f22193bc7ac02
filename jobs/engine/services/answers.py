"""Applying the SDK's answer to a leased queue item: memos, the next items, the run's status and its trace.

One transaction per answer applied alone (`call_response_apply`); answers that arrive together are applied in one
transaction, each in a savepoint of its own (`call_responses_apply`, fed by the dispatcher's collector,
answer_batch.py). The state machine follows Inngest's executor (pkg/execution/executor/executor.go,
`HandleGeneratorResponse` and `handleGenerator*`): a step's memo and the queue item that moves the run on are
written together, so a crash repeats at most the one request whose answer was not yet stored, never a step whose
memo was. Ending a run and the `inngest/function.*` events it emits are in endings.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.db import close_old_connections, connection, transaction
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
    with transaction.atomic():
        return _locked_apply(item_id=item_id, owner=owner, response=response, generation=generation)


def _locked_apply(*, item_id: int, owner: str, response: CallResponse, generation: int, savepoint: str = "") -> Outcome:
    """The answer's work inside a transaction already open (`savepoint`: see `item_lock`)."""
    now = timezone.now()
    item = item_lock(item_id=item_id, owner=owner, savepoint=savepoint)
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


# --- Answers in batches (group commit) ---------------------------------------------------------------------

# At most this many answers in one transaction. Each answer's savepoint takes a subtransaction id once it locks a
# row; PostgreSQL caches 64 of them per backend (PGPROC_MAX_CACHED_SUBXIDS) and past that every other session's
# snapshot checks read pg_subtrans while the transaction is open. A batch also holds its runs' locks until it
# commits: a bound keeps that short.
BATCH_MAX = 32


class BatchedAnswer(NamedTuple):
    """One answer waiting in a batch: what `call_response_apply` takes, and the item's run (the lock order)."""

    item_id: int
    run_pk: int
    owner: str
    response: CallResponse
    generation: int


def call_responses_apply(answers: Sequence[BatchedAnswer]) -> list[Outcome | Exception]:
    """Apply answers that arrived together in one transaction (one commit), each under its own fence; in order.

    Each answer is applied exactly as `call_response_apply` applies it (its lease token and generation checked
    under the row locks, a stale one refused), inside a savepoint of its own: one whose work fails is rolled back
    to its savepoint alone (and its `on_commit` callbacks dropped), the others go on and commit together. Locks are
    taken in one order, by run then item, so two dispatchers' batches over the same runs queue on each other
    instead of deadlocking. Whatever failed inside the batch (an error, a deadlock with another transaction, a lost
    connection or commit: then the whole batch) is applied again alone after it, as it would have been without
    batching; an error there is that answer's result (its waiter raises it, as `call_response_apply` would).
    """
    if len(answers) > BATCH_MAX:
        raise ValueError(f"at most {BATCH_MAX} answers in one batch, not {len(answers)}")
    if len(answers) == 1:
        return [_apply_alone(answers[0])]
    results: list[Outcome | Exception | None] = [None] * len(answers)
    order = sorted(range(len(answers)), key=lambda n: (answers[n].run_pk, answers[n].item_id))
    again: list[int] = []
    try:
        with transaction.atomic():
            for n in order:
                outcome = _apply_in_savepoint(answers[n], number=n)
                if outcome is None:
                    again.append(n)
                else:
                    results[n] = outcome
    except Exception:
        logger.warning("answer batch not committed; its answers are applied one by one", exc_info=True)
        close_old_connections()
        again = order
    for n in again:
        results[n] = _apply_alone(answers[n])
    return cast(list[Outcome | Exception], results)  # every answer has its result by now


def _apply_in_savepoint(answer: BatchedAnswer, *, number: int) -> Outcome | None:
    """One answer of a batch in a savepoint of its own, opened in `item_lock`'s round trip and never released (the
    commit releases them all; a RELEASE would cost a round trip each). None: it failed and was rolled back."""
    sid = f"answer_{number}"
    connection.savepoint_ids.append(sid)  # Django ties `on_commit` callbacks to it, dropped if it is rolled back
    try:
        return _locked_apply(
            item_id=answer.item_id,
            owner=answer.owner,
            response=answer.response,
            generation=answer.generation,
            savepoint=connection.ops.savepoint_create_sql(sid),
        )
    except Exception:
        logger.warning("answer failed in its batch; applied again alone", extra={"item": answer.item_id}, exc_info=True)
        connection.savepoint_rollback(sid)  # a failure here (the connection gone) fails the batch: all alone
        transaction.set_rollback(False)  # an ORM write that failed marked the whole transaction; only this answer
        return None
    finally:
        connection.savepoint_ids.pop()


def _apply_alone(answer: BatchedAnswer) -> Outcome | Exception:
    try:
        return call_response_apply(
            item_id=answer.item_id, owner=answer.owner, response=answer.response, generation=answer.generation
        )
    except Exception as error:
        close_old_connections()
        return error


def _apply(answer: Answer) -> Outcome:
    run, item, response = answer.run, answer.item, answer.response
    if run.status in Run.FINISHED:
        item_delete(item)
        return Outcome(Result.STALE)
    if response.status == 200 and response.from_sdk:
        answer.span(op=RETURN_OP, status=SpanStatus.COMPLETED, output=response.body)
        run_complete(run, response.body, now=answer.now, spans=answer.spans)  # writes the spans too
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
        run_complete(run, complete.get("data"), now=now, spans=answer.spans)
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
