"""Resuming a paused run (pauses.py): by an incoming event that matches its wait or ends its invoke, or by its
timeout item; whichever locks the run first consumes the pause, and the other finds it gone.

Inngest's rules (pkg/execution): pauses created after an event cannot match it (executor.go
`handlePausesAllNaively`); the memo is the event itself, or `{"data": result}` / `{"error": ...}` from the invoked
run's `inngest/function.finished` (state/pause.go `GetResumeData`); a wait's timeout stores null and an invoke's
InngestInvokeTimeoutError (service.go `handlePauseTimeout`, execution.go `SetInvokeTimeoutError`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from . import expressions, hooks
from .if_index import IfIndex, event_keys
from .models import Event, Pause, QueueItem, Run, RunSpan
from .outcomes import Outcome, Result
from .protocol import FINISHED_EVENT
from .queries import fetch_row, fetch_rows, several, statement
from .services.answer_rows import memo_save, run_save_progress
from .services.intake import work_notify
from .services.progress import step_done
from .services.rows import json_value
from .trace import Span, spans_insert

logger = logging.getLogger(__name__)

Kind = Pause.Kind
SpanStatus = RunSpan.Status
INVOKE_TIMEOUT_ERROR = {
    "name": "InngestInvokeTimeoutError",
    "message": "Timed out waiting for invoked function to complete",
    "error": "InngestInvokeTimeoutError: Timed out waiting for invoked function to complete",
}


class _TimeoutItem(NamedTuple):
    """pause_timeout_item_lock's row."""

    run_pk: int
    step_id: str


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
        self.trigger = json_value(self.trigger) or {}  # raw queries return jsonb as text

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
_CANDIDATES_SQL = statement("pause_candidates")
_WAITED_NAMES_SQL = statement("pause_waited_names")
_TIMEOUT_ITEM_LOCK_SQL = statement("pause_timeout_item_lock")


@hooks.on_events(order=10)  # before cancel-on (cancellation.py), as intake did it
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
        candidates = fetch_rows(cursor, _Candidate)
    matches = _matches(candidates, rows)
    ended = [candidate.pause_pk for candidate in candidates if candidate.run_status in Run.FINISHED]
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
        if candidate.run_status in Run.FINISHED:
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
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(several(_TIMEOUT_ITEM_LOCK_SQL, [item_id, item_id, owner]))  # the run, then the item
            cursor.nextset()
            item = fetch_row(cursor, _TimeoutItem)
        if item is None:
            return Outcome(Result.LEASE_LOST)
        run_pk, step_id = item.run_pk, item.step_id
        waited_step = step_id.removeprefix(QueueItem.PAUSE_TIMEOUT_PREFIX)
        pause = Pause.objects.filter(run_id=run_pk, step_id=waited_step).first()
        if pause is None:
            QueueItem.objects.filter(pk=item_id).delete()
            return Outcome(Result.STALE)
        memo = None if pause.kind == Kind.WAIT_FOR_EVENT else {"error": INVOKE_TIMEOUT_ERROR}
        _resume(run_pk, pause.step_id, memo=memo, now=now)
    return Outcome(Result.TIMEOUT, step=pause.step_name)


def _resume(run_pk: int, step_id: str, *, memo: Any, now: datetime, event_id: str = "") -> int:
    """Consume the pause, store the step's memo and move the run on; 0 if another event or the timeout won."""
    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).select_related("function").get(pk=run_pk)
        pause = Pause.objects.filter(run_id=run_pk, step_id=step_id).first()
        if pause is None:
            return 0
        pause.delete()
        if run.status in Run.FINISHED:
            return 0
        memo_save(run, step_id, pause.step_name, memo, now=now)
        timeout_item = QueueItem.objects.filter(run=run, step_id=QueueItem.PAUSE_TIMEOUT_PREFIX + step_id).first()
        if timeout_item is None:
            run_save_progress(run)
            logger.warning("a resumed pause had no timeout item; the run has nothing queued", extra={"run": run.run_id})
        else:  # the timeout item stands for the step in its parallel group: the one step-done path moves the run on
            step_done(run, timeout_item, pause.step_name, now=now)
        spans_insert(run.pk, [_outcome_span(pause, memo, now=now, event_id=event_id)])
        work_notify()
    logger.info("pause resumed", extra={"run_id": run.run_id, "step": pause.step_name, "by": event_id or "timeout"})
    return 1


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


# A pause's timeout item (`timeout:<step hash>`, pauses.py) is no SDK request: the dispatcher applies it here.
hooks.queue_kind(
    hooks.QueueKind(
        name="pause.timeout",
        recognise=lambda step_id, _payload: step_id.startswith(QueueItem.PAUSE_TIMEOUT_PREFIX),
        apply=pause_timeout_apply,
    )
)
