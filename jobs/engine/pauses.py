"""Pauses: `step.wait_for_event` and `step.invoke`, from the op that starts one to the event or timeout ending it.

Inngest's rules, read in inngest/inngest pkg/execution:
- the op stores a pause and enqueues a timeout job due when it expires (executor.go
  `handleGeneratorWaitForEvent`, `handleGeneratorInvokeFunction`); here the job is a `QueueItem` whose step id is
  `timeout:<step hash>`, so a pending pause counts as an unfinished sibling of a parallel group;
- an event resumes only pauses that existed when it arrived (executor.go `handlePausesAllNaively` skips pauses
  created after the event; nothing looks back at older events), with `if` evaluated over `event` (the run's
  triggering event, which Inngest interpolates) and `async` (the incoming event); the memo is the event itself
  (state/pause.go `GetResumeData`), or null on timeout;
- an invoke sends `inngest/function.invoked` to the target function with `_inngest.correlation_id =
  <run id>.<step hash>` and waits for the `inngest/function.finished` carrying that id (executor.go
  `HandleInvokeFinish`); its memo is `{"data": result}` or `{"error": ...}`, and a timeout stores
  `InngestInvokeTimeoutError` (execution.go `SetInvokeTimeoutError`);
- the event or the timeout, whichever consumes the pause first, resumes the run; the other finds it gone.
Starting a pause is here; resuming the run (by an event or the timeout) is in pause_resume.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection
from ulid import ULID

from . import expressions, hooks
from .clock import scaled
from .if_index import match_key
from .models import Event, Function, Pause, QueueItem, Run, RunSpan
from .protocol import FINISHED_EVENT, INVOKED_EVENT, ProtocolError, config_duration, datetime_to_ms, parallel_mode
from .queries import statement
from .services.intake import runs_start, work_notify

if TYPE_CHECKING:
    from .services.progress import Answer

PAUSE_OPS = ("WaitForEvent", "InvokeFunction")
# state/opcode.go: an invoke without a timeout waits a year; a wait may not be longer than 366 days
# (consts.MaxWaitForEventTimeout).
INVOKE_DEFAULT_TIMEOUT = timedelta(days=365)
MAX_WAIT_TIMEOUT = timedelta(days=366)

Kind = Pause.Kind
SpanStatus = RunSpan.Status

_PAUSE_INSERT_SQL = statement("pause_insert")


# --- Starting a pause (inside the answer's transaction) ------------------------------------------------------


@hooks.opcode(*PAUSE_OPS)
def pause_begin(answer: Answer, op: dict[str, Any], hashed_id: str, name: str) -> hooks.OpEffect:
    """Start the wait or invoke of a WaitForEvent / InvokeFunction op.

    The run now waits on it (Waiting), or the op cannot wait (an invalid `if`, timeout or target function) and its
    memo is stored at once (Memo): the SDK then raises that error in the function, as Inngest's step error does.
    """
    run, now = answer.run, answer.now
    opts = op.get("opts") if isinstance(op.get("opts"), dict) else {}
    try:
        if op["op"] == "WaitForEvent":
            pause = _wait_pause(run, op, opts, hashed_id, name, now=now)
        else:
            pause = _invoke_pause(run, opts, hashed_id, name, now=now)
    except ProtocolError as error:
        # Inngest fails the step with a standard error (executor.go: "InvalidExpression", or the opts' parse error).
        memo = {"error": {"name": "Error", "message": str(error), "error": f"Error: {error}"}}
        answer.span(op=op["op"], status=SpanStatus.FAILED, step_id=hashed_id, step_name=name, error=memo["error"])
        return hooks.Memo(memo)
    if not _pause_insert(pause):
        return hooks.Waiting()  # already waiting (the op was reported again): one pause, one invocation
    due = now + scaled(pause.expires_at - now)
    _timeout_item_insert(answer.item, pause, due=due, parallel_mode=parallel_mode(opts))
    answer.span(op=op["op"], status=SpanStatus.SLEEPING, step_id=hashed_id, step_name=name, wake_at=due, output=opts)
    if pause.kind == Kind.INVOKE:
        _invocation_send(run, pause, opts, now=now)
    work_notify()
    return hooks.Waiting()


def _wait_pause(
    run: Run, op: dict[str, Any], opts: dict[str, Any], hashed_id: str, name: str, *, now: datetime
) -> Pause:
    event_name = opts.get("event") or op.get("name")  # state/opcode.go WaitForEventOpts: the op's name as fallback
    if not isinstance(event_name, str) or not event_name:
        raise ProtocolError("An event name must be provided when waiting for an event")
    expression = opts.get("if") or ""
    match = opts.get("match")
    if not expression and isinstance(match, str) and match:
        # The older `match: "data.id"` form: the field must be equal in both events.
        field = match.removeprefix("event.").removeprefix("async.")
        expression = f"event.{field} == async.{field}"
    if expression:
        expressions.check(expression, what="wait_for_event `if`", variables=("event", "async"))
    timeout = opts.get("timeout") or ""
    # An empty timeout (the TypeScript SDK's negative duration) expires at once (state/opcode.go Expires).
    expires = now + config_duration(timeout, what="wait_for_event timeout") if timeout else now
    if expires - now > MAX_WAIT_TIMEOUT:
        raise ProtocolError("wait_for_event timeout is longer than 366 days")
    return Pause(
        run=run,
        kind=Kind.WAIT_FOR_EVENT,
        step_id=hashed_id,
        step_name=name[:255],
        event_name=event_name,
        expression=expression,
        match_key=match_key(expression, (run.events or [{}])[0]),
        expires_at=expires,
        created_at=now,
    )


def _invoke_pause(run: Run, opts: dict[str, Any], hashed_id: str, name: str, *, now: datetime) -> Pause:
    if not isinstance(opts.get("function_id"), str) or not opts["function_id"]:
        raise ProtocolError("step.invoke needs a `function_id`")
    if not Function.objects.filter(slug=opts["function_id"], archived_at__isnull=True).exists():
        raise ProtocolError(f"could not find function {opts['function_id']!r} to invoke")
    timeout = opts.get("timeout") or ""
    expires = now + (config_duration(timeout, what="step.invoke timeout") if timeout else INVOKE_DEFAULT_TIMEOUT)
    return Pause(
        run=run,
        kind=Kind.INVOKE,
        step_id=hashed_id,
        step_name=name[:255],
        event_name=FINISHED_EVENT,
        correlation_id=f"{run.run_id}.{hashed_id}",
        expires_at=expires,
        created_at=now,
    )


def _pause_insert(pause: Pause) -> bool:
    """Insert the pause unless the step already has one; whether it was inserted."""
    with connection.cursor() as cursor:
        cursor.execute(
            _PAUSE_INSERT_SQL,
            [
                pause.run_id,
                pause.kind,
                pause.step_id,
                pause.step_name,
                pause.event_name,
                pause.expression,
                pause.match_key,
                pause.correlation_id,
                pause.expires_at,
                pause.created_at,
            ],
        )
        return cursor.fetchone() is not None


def _timeout_item_insert(item: QueueItem, pause: Pause, *, due: datetime, parallel_mode: str) -> None:
    """The job that times the pause out (Inngest enqueues it with the run's concurrency keys, as here).

    It stands for the step in its parallel group until the pause ends, so it carries the step's parallel mode,
    read from the op's opts as a planned step's is (services/answer_rows.py `planned_item`)."""
    QueueItem.objects.bulk_create(
        [
            QueueItem(
                run_id=pause.run_id,
                function_id=item.function_id,
                step_id=QueueItem.PAUSE_TIMEOUT_PREFIX + pause.step_id,
                step_name=pause.step_name,
                parallel_mode=parallel_mode,
                attempt=0,
                max_attempts=1,
                priority=0,
                **item.same_queue(),
                available_at=due,
                order_at=due - timedelta(seconds=item.factor),
            )
        ],
        ignore_conflicts=True,
    )


def _invocation_send(run: Run, pause: Pause, opts: dict[str, Any], *, now: datetime) -> None:
    """Store `inngest/function.invoked` and start the target's run with it (event/invoke.go NewInvocationEvent).

    The target is found by its composite id whatever its triggers are (checked to exist in `_invoke_pause`).
    """
    slug = opts["function_id"]
    function = Function.objects.get(slug=slug, archived_at__isnull=True)
    payload = opts.get("payload") if isinstance(opts.get("payload"), dict) else {}
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    event = Event.objects.create(
        internal_id=str(ULID()),
        name=INVOKED_EVENT,
        data={
            **data,
            "_inngest": {
                "fn_id": slug,
                "correlation_id": pause.correlation_id,
                "expire": datetime_to_ms(pause.expires_at),
                "gid": "",
                "name": pause.step_name,
                "source_app_id": str(run.function.app_id),
                "source_fn_id": str(run.function_id),
                "source_fn_v": 0,
            },
        },
        ts=datetime_to_ms(now),
        received_at=now,
    )
    runs_start([(function, event)], now=now)
