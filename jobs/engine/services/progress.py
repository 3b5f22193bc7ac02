"""Moving a run on: the answer being applied, and what follows a finished or failed step attempt.

The core's part that features build on (ai_gateway.py and pause_resume.py end their steps with it): the state of
one answer (`Answer`), the delay before a failed attempt is retried (`retry_delay`) and the one step-done path
(`next_move` decides, `step_done` writes, `step_run_inline_done` is its one-statement common case).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection

from ..clock import scaled
from ..models import QueueItem, Run, RunSpan
from ..outcomes import CallResponse, Outcome, Result
from ..protocol import backoff_delay, parse_retry_after
from ..queries import statement
from ..trace import Span, spans_json
from .answer_rows import item_delete, item_to_discovery, run_save_progress

SpanStatus = RunSpan.Status

_STEP_RUN_INLINE_DONE_SQL = statement("step_run_inline_done")


@dataclass
class Answer:
    """One answer being applied: the locked item and run, and the spans it adds to the trace."""

    item: QueueItem
    run: Run
    response: CallResponse
    now: datetime
    spans: list[Span] = field(default_factory=list)
    request_version_unsaved: bool = False  # the run took the SDK's request version; not yet written
    traced: list[Span] = field(default_factory=list)  # every span of the answer, for the ledger (never cleared)

    def span(self, *, op: str, status: str, step_id: str = "", step_name: str = "", **fields: Any) -> None:
        self.spans.append(
            span := Span(
                step_id=step_id,
                step_name=step_name,
                op=op,
                attempt=fields.pop("attempt", self.item.attempt),
                status=status,
                http_status=self.response.status,
                started_at=self.response.started_at or self.now,
                ended_at=self.now,
                **fields,
            )
        )
        self.traced.append(span)

    def step_span_ids(self) -> tuple[str, str]:
        """The targeted step's ids for a function-level answer to a step request; for discovery, the step the
        serve endpoint says was executing when the error was raised (`CallResponse.step`), else blank."""
        if self.item.is_discovery:
            return "", self.response.step
        return self.item.step_id, self.item.step_name


def retry_delay(failed_attempt: int, response: CallResponse, *, now: datetime) -> timedelta:
    delay = parse_retry_after(response.retry_after, now=now) or backoff_delay(failed_attempt, rng=random.Random())  # noqa: S311
    return scaled(delay)


class Move(NamedTuple):
    """What a finished step does to the run's queue: its item becomes the next discovery, or goes."""

    to_discovery: bool
    siblings_pending: bool  # members of its parallel group are still queued, running or waiting


def next_move(run: Run, item: QueueItem) -> Move:
    """The one rule for moving a run on once a step has its memo, whichever way the step finished.

    Inngest's executor (executor.go `handleGeneratorStep` and friends) enqueues the next discovery once a step is
    done, except inside a parallel group: in "wait" mode only the last member to finish does, in "race" mode the
    first (a discovery already queued by an earlier member is enough). A pending wait or invoke is a member too:
    its timeout item stands for it (pauses.py). Discovery itself never runs beside members: no query for it.
    """
    if item.is_discovery:
        return Move(to_discovery=True, siblings_pending=False)
    others = QueueItem.objects.filter(run=run).exclude(pk=item.pk)
    pending = others.exclude(step_id=QueueItem.DISCOVERY).exists()
    if pending and item.parallel_mode != "race":
        return Move(to_discovery=False, siblings_pending=True)  # wait mode: the last member enqueues discovery
    if others.filter(step_id=QueueItem.DISCOVERY).exists():
        return Move(to_discovery=False, siblings_pending=pending)  # race: an earlier member moved the run on
    return Move(to_discovery=True, siblings_pending=pending)


def step_done(run: Run, item: QueueItem, step_name: str, *, now: datetime) -> Outcome:
    """A step of `item` has its memo (stored by the caller): move the run on by `next_move`; under the run's lock.

    The one step-done path: a planned step's answer (answers.py), step.ai.infer's (ai_gateway.py), a wait or
    invoke ended by its event or timeout (pause_resume.py, `item` its timeout item); a step run inline in
    discovery takes `step_run_inline_done`, the same move in one statement.
    """
    move = next_move(run, item)
    if not move.siblings_pending:
        run.force_step_plan = False  # the group is over: discovery may run a step inline again
    if move.to_discovery:
        item_to_discovery(item, available_at=now, max_attempts=run.function.max_attempts)
    else:
        item_delete(item)
    run_save_progress(run)
    return Outcome(Result.STEP, step=step_name)


def step_run_inline_done(answer: Answer, op: dict[str, Any]) -> Outcome:
    """The common case in one statement: a step ran inline in discovery; store its memo, queue the next discovery.

    For a discovery item outside a parallel group (the caller checks: not `run.force_step_plan`), where
    `next_move` is always "to discovery, no siblings": `step_done`'s effect (memo once, attempts back to 0,
    continuing priority) in one round trip; the answer's spans and the run's request version go in the same
    statement (so the caller writes neither again).
    """
    run, item, now = answer.run, answer.item, answer.now
    hashed_id, name = str(op.get("id", "")), str(op.get("displayName") or op.get("name") or op.get("id", ""))
    answer.span(op="StepRun", status=SpanStatus.COMPLETED, step_id=hashed_id, step_name=name, output=op.get("data"))
    with connection.cursor() as cursor:
        cursor.execute(
            _STEP_RUN_INLINE_DONE_SQL,
            {
                "run": run.pk,
                "hashed": hashed_id,
                "name": name[:255],
                "memo": json.dumps({"data": op.get("data")}),
                "position": run.steps_done,
                "now": now,
                "item": item.pk,
                "spans": spans_json(answer.spans),
                "request_version": run.request_version,
            },
        )
    answer.spans.clear()
    answer.request_version_unsaved = False
    return Outcome(Result.STEP, step=name)
