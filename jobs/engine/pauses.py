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
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone
from ulid import ULID

from . import expressions
from .if_index import IfIndex, event_keys, match_key
from .models import Event, Function, Pause, QueueItem, Run, RunSpan
from .protocol import ProtocolError, datetime_to_ms, parse_duration, scale_delay
from .services import delay_scale, runs_start, work_notify
from .trace import Span, spans_insert

if TYPE_CHECKING:
    from .answers import Outcome, _Answer

logger = logging.getLogger(__name__)

PAUSE_OPS = ("WaitForEvent", "InvokeFunction")
INVOKED_EVENT = "inngest/function.invoked"
FINISHED_EVENT = "inngest/function.finished"
# state/opcode.go: an invoke without a timeout waits a year; a wait may not be longer than 366 days
# (consts.MaxWaitForEventTimeout).
INVOKE_DEFAULT_TIMEOUT = timedelta(days=365)
MAX_WAIT_TIMEOUT = timedelta(days=366)
INVOKE_TIMEOUT_ERROR = {
    "name": "InngestInvokeTimeoutError",
    "message": "Timed out waiting for invoked function to complete",
    "error": "InngestInvokeTimeoutError: Timed out waiting for invoked function to complete",
}

Kind = Pause.Kind
SpanStatus = RunSpan.Status


# --- Starting a pause (inside the answer's transaction) ------------------------------------------------------


def pause_begin(answer: _Answer, op: dict[str, Any], hashed_id: str, name: str) -> Any:
    """Start the wait or invoke of a WaitForEvent / InvokeFunction op.

    Returns True when the run now waits on it, or the memo to store at once when the op cannot wait (an invalid
    `if`, timeout or target function): the SDK then raises that error in the function, as Inngest's step error does.
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
        return memo
    if not _pause_insert(pause):
        return True  # already waiting (the op was reported again): one pause, one invocation
    due = now + scale_delay(pause.expires_at - now, delay_scale())
    _timeout_item_insert(answer.item, pause, due=due)
    answer.span(op=op["op"], status=SpanStatus.SLEEPING, step_id=hashed_id, step_name=name, wake_at=due, output=opts)
    if pause.kind == Kind.INVOKE:
        _invocation_send(run, pause, opts, now=now)
    transaction.on_commit(work_notify)
    return True


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
    expires = now + _duration(timeout, what="wait_for_event timeout") if timeout else now
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
    expires = now + (_duration(timeout, what="step.invoke timeout") if timeout else INVOKE_DEFAULT_TIMEOUT)
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


def _duration(text: object, *, what: str) -> timedelta:
    if not isinstance(text, str):
        raise ProtocolError(f"{what} must be a duration string")
    try:
        return parse_duration(text)
    except ProtocolError as error:
        raise ProtocolError(f"{what}: {error}") from None


def _pause_insert(pause: Pause) -> bool:
    """Insert the pause unless the step already has one; whether it was inserted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO engine_pause (run_id, kind, step_id, step_name, event_name, expression, match_key,"
            " correlation_id, expires_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (run_id, step_id) DO NOTHING RETURNING id",
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


def _timeout_item_insert(item: QueueItem, pause: Pause, *, due: datetime) -> None:
    """The job that times the pause out (Inngest enqueues it with the run's concurrency keys, as here)."""
    QueueItem.objects.bulk_create(
        [
            QueueItem(
                run_id=pause.run_id,
                function_id=item.function_id,
                step_id=QueueItem.PAUSE_TIMEOUT_PREFIX + pause.step_id,
                step_name=pause.step_name,
                attempt=0,
                max_attempts=1,
                queue_key=item.queue_key,
                priority=0,
                key1=item.key1,
                limit1=item.limit1,
                key2=item.key2,
                limit2=item.limit2,
                available_at=due,
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


# --- Ending a pause: an event, or its timeout ------------------------------------------------------------------


@dataclass
class _Candidate:
    """A pending pause that an incoming event may end, with its run's status and triggering event."""

    pause_pk: int
    run_pk: int
    kind: str
    step_id: str
    event_name: str
    expression: str
    correlation_id: str
    created_at: datetime
    run_status: str
    trigger: Any

    def __post_init__(self) -> None:
        self.trigger = _json(self.trigger) or {}  # raw queries return jsonb as text

    def memo_for(self, row: Event) -> tuple[Any] | None:
        """`(memo,)` when this event ends the pause, else None."""
        if row.received_at < self.created_at:
            return None
        if self.kind == Kind.INVOKE:
            data = row.data if isinstance(row.data, dict) else {}
            if row.name != FINISHED_EVENT or data.get("correlation_id") != self.correlation_id:
                return None
            if "error" in data:  # state/pause.go GetResumeData: the error if there is one, else the result
                return ({"error": data["error"]},)
            return ({"data": data.get("result")},)
        if row.name != self.event_name:
            return None
        incoming = row.to_inngest()
        if self.expression and not expressions.matches(self.expression, {"event": self.trigger, "async": incoming}):
            return None
        return (incoming,)


# One index scan per branch (engine_pause_event is on event name and match key): waits whose `if` is not indexed,
# waits whose key one of the events carries, every wait of an event too large to key, invokes by correlation id.
_CANDIDATES_SQL = """
SELECT p.id, p.run_id, p.kind, p.step_id, p.event_name, p.expression, p.correlation_id, p.created_at,
       r.status, r.events -> 0
  FROM engine_pause p JOIN engine_run r ON r.id = p.run_id
 WHERE p.id IN (
       SELECT id FROM engine_pause WHERE kind = 'wait' AND event_name = ANY(%(names)s) AND match_key = ''
       UNION SELECT id FROM engine_pause WHERE kind = 'wait' AND event_name = ANY(%(names)s)
                                           AND match_key = ANY(%(keys)s)
       UNION SELECT id FROM engine_pause WHERE kind = 'wait' AND event_name = ANY(%(unkeyed)s)
       UNION SELECT id FROM engine_pause WHERE kind = 'invoke' AND correlation_id = ANY(%(correlations)s))
   AND p.expires_at > %(now)s
 ORDER BY p.created_at, p.id
"""
_WAITED_NAMES_SQL = (
    "SELECT name FROM unnest(%s::text[]) AS name"
    " WHERE EXISTS (SELECT 1 FROM engine_pause WHERE kind = 'wait' AND event_name = name)"
)
_ENDED = (Run.Status.COMPLETED, Run.Status.FAILED, Run.Status.CANCELLED)


def pauses_resume_for_events(rows: list[Event], *, now: datetime) -> int:
    """Resume the runs waiting on these just-stored events.

    First the names anything waits on (an index lookup per name: usually none, and that is all), then the candidate
    pauses by name and `if` key or by correlation id (one indexed query), then CEL on those only.
    """
    names = list({row.name for row in rows})
    correlation_ids = [
        row.data["correlation_id"]
        for row in rows
        if row.name == FINISHED_EVENT and isinstance(row.data, dict) and isinstance(row.data.get("correlation_id"), str)
    ]
    with connection.cursor() as cursor:
        cursor.execute(_WAITED_NAMES_SQL, [names])
        waited = {name for (name,) in cursor.fetchall()}
    if not waited and not correlation_ids:
        return 0  # the common case: nothing waits on these events (one index-only lookup)
    keys: set[str] = set()
    unkeyed: set[str] = set()
    for row in rows:
        if row.name not in waited:
            continue
        carried = event_keys(row.to_inngest())
        if carried is None:
            unkeyed.add(row.name)
        else:
            keys.update(carried)
    params = {"names": list(waited), "keys": list(keys), "unkeyed": list(unkeyed), "correlations": correlation_ids}
    with connection.cursor() as cursor:
        cursor.execute(_CANDIDATES_SQL, {**params, "now": now})
        candidates = [_Candidate(*values) for values in cursor.fetchall()]
    matches = _matches(candidates, rows)
    ended = [candidate.pause_pk for candidate in candidates if candidate.run_status in _ENDED]
    if ended:
        Pause.objects.filter(pk__in=ended).delete()
    resumed = 0
    for candidate, memo, event_id in sorted(matches, key=lambda match: match[0].run_pk):  # one lock order: no deadlock
        resumed += _resume(candidate.run_pk, candidate.step_id, memo=memo, now=now, event_id=event_id)
    return resumed


def _matches(candidates: list[_Candidate], rows: list[Event]) -> list[tuple[_Candidate, Any, str]]:
    """(pause, memo, event id) for each pause that an event of the batch ends: the first such event wins.

    Waits are narrowed by their `if`'s value (if_index.py), invokes by correlation id, so a batch costs about one
    check per event, not one per event and waiting run; CEL decides every match.
    """
    waits: dict[str, IfIndex[_Candidate]] = {}
    invokes: dict[str, _Candidate] = {}
    for candidate in candidates:
        if candidate.run_status in _ENDED:
            continue  # the run ended while waiting (a sibling step failed it)
        if candidate.kind == Kind.INVOKE:
            invokes[candidate.correlation_id] = candidate
        else:
            index = waits.setdefault(candidate.event_name, IfIndex())
            index.add(candidate, candidate.expression, candidate.trigger)
    ended: set[int] = set()
    matches: list[tuple[_Candidate, Any, str]] = []
    for row in rows:
        found = waits[row.name].candidates(row.to_inngest()) if row.name in waits else []
        if row.name == FINISHED_EVENT and isinstance(row.data, dict) and row.data.get("correlation_id") in invokes:
            found.append(invokes[row.data["correlation_id"]])
        for candidate in found:
            memo = None if candidate.pause_pk in ended else candidate.memo_for(row)
            if memo is not None:
                ended.add(candidate.pause_pk)
                matches.append((candidate, memo[0], row.internal_id))
    return matches


def pause_timeout_apply(*, item_id: int, owner: str) -> Outcome:
    """The dispatcher claimed a pause's timeout item: end the wait with null, or the invoke with a timeout error."""
    from .answers import Outcome  # answers imports this module (pause_begin)

    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM engine_run WHERE id = (SELECT run_id FROM engine_queueitem WHERE id = %s) FOR UPDATE",
                [item_id],
            )
            locked_run = cursor.fetchone()
            cursor.execute(
                "SELECT run_id, step_id FROM engine_queueitem WHERE id = %s AND lease_owner = %s FOR UPDATE",
                [item_id, owner],
            )
            row = cursor.fetchone()
        if locked_run is None or row is None:
            return Outcome("lease-lost")
        run_pk, step_id = row
        waited_step = step_id.removeprefix(QueueItem.PAUSE_TIMEOUT_PREFIX)
        pause = Pause.objects.filter(run_id=run_pk, step_id=waited_step).first()
        if pause is None:
            QueueItem.objects.filter(pk=item_id).delete()
            return Outcome("stale")
        memo = None if pause.kind == Kind.WAIT_FOR_EVENT else {"error": INVOKE_TIMEOUT_ERROR}
        _resume(run_pk, pause.step_id, memo=memo, now=now, locked=True)
    return Outcome("timeout", step=pause.step_name)


def _resume(run_pk: int, step_id: str, *, memo: Any, now: datetime, event_id: str = "", locked: bool = False) -> int:
    """Consume the pause, store the step's memo and move the run on; 0 if another event or the timeout won."""
    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).select_related("function").get(pk=run_pk)
        pause = Pause.objects.filter(run_id=run_pk, step_id=step_id).first()
        if pause is None:
            return 0
        pause.delete()
        if run.status in _ENDED:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO engine_stepmemo (run_id, hashed_id, name, memo, position, created_at)"
                " VALUES (%s, %s, %s, %s::jsonb, %s, %s) ON CONFLICT (run_id, hashed_id) DO NOTHING RETURNING id",
                [run.pk, step_id, pause.step_name, json.dumps(memo), run.steps_done, now],
            )
            if cursor.fetchone() is not None:
                cursor.execute("UPDATE engine_run SET steps_done = steps_done + 1 WHERE id = %s", [run.pk])
        _run_move_on(run, timeout_step_id=QueueItem.PAUSE_TIMEOUT_PREFIX + step_id, now=now)
        spans_insert(run.pk, [_outcome_span(pause, memo, now=now, event_id=event_id)])
        transaction.on_commit(work_notify)
    logger.info("pause resumed", extra={"run_id": run.run_id, "step": pause.step_name, "by": event_id or "timeout"})
    return 1


def _run_move_on(run: Run, *, timeout_step_id: str, now: datetime) -> None:
    """The timeout item becomes the run's next discovery, unless siblings of a parallel group are still pending
    (the last of them enqueues discovery, as answers.py `_step_done` does) or a discovery is already queued."""
    others = QueueItem.objects.filter(run=run).exclude(step_id=timeout_step_id).exists()
    if others:
        QueueItem.objects.filter(run=run, step_id=timeout_step_id).delete()
        return
    moved = QueueItem.objects.filter(run=run, step_id=timeout_step_id).update(
        step_id=QueueItem.DISCOVERY,
        step_name="",
        parallel_mode="",
        attempt=0,
        max_attempts=run.function.max_attempts,
        priority=0,
        available_at=now,
        lease_owner=None,
        lease_expires_at=None,
    )
    if not moved:
        logger.warning("a resumed pause had no timeout item; the run has nothing queued", extra={"run": run.run_id})
    else:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE engine_run SET force_step_plan = false WHERE id = %s", [run.pk])


def _outcome_span(pause: Pause, memo: Any, *, now: datetime, event_id: str) -> Span:
    op = "WaitForEvent" if pause.kind == Kind.WAIT_FOR_EVENT else "InvokeFunction"
    error = memo.get("error") if isinstance(memo, dict) and pause.kind == Kind.INVOKE else None
    output = memo.get("data") if isinstance(memo, dict) and pause.kind == Kind.INVOKE else memo
    return Span(
        step_id=pause.step_id,
        step_name=pause.step_name,
        op=op,
        attempt=0,
        status=SpanStatus.FAILED if error else SpanStatus.COMPLETED,
        http_status=None,
        started_at=pause.created_at,
        ended_at=now,
        output=None if error else output,
        error=error,
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value
