"""The rows an answer writes, each in one statement: step memos, queue items (planned, retried, moved on to the
next discovery, deleted), the run's progress, and the lock an answer takes first (run, then item).

The state machine that decides which of these to write is answers.py; they run inside its transaction.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from ..models import Function, QueueItem, Run, StepMemo
from ..protocol import parallel_mode
from ..queries import several, statement
from .rows import FUNCTION_FIELDS, ITEM_FIELDS, RUN_FIELDS, model_from_row

_MEMO_INSERT_SQL = statement("memo_insert")
_TO_DISCOVERY_SQL = statement("item_to_discovery")
_ITEM_DELETE_SQL = statement("item_delete")
_PROGRESS_SAVE_SQL = statement("run_progress_save")


def not_yet_planned(run: Run, planned: list[QueueItem]) -> list[QueueItem]:
    """Drop planned steps already queued, running or done: a later discovery re-plans the group's unfinished steps.

    Inngest gives a planned step the job id `<run>-<step hash>-plan` (executor.go handleGeneratorStepPlanned) and
    its queue refuses a second item with an id it holds; a finished step has its memo, so the SDK would not plan it.
    The unique constraint `engine_item_one_per_step` (with ignore_conflicts) covers an item queued meanwhile.
    """
    step_ids = [item.step_id for item in planned]
    taken = set(QueueItem.objects.filter(run=run, step_id__in=step_ids).values_list("step_id", flat=True)) | set(
        StepMemo.objects.filter(run=run, hashed_id__in=step_ids).values_list("hashed_id", flat=True)
    )
    unique: dict[str, QueueItem] = {}
    for item in planned:
        if item.step_id not in taken:
            unique.setdefault(item.step_id, item)
    return list(unique.values())


def planned_item(
    run: Run, item: QueueItem, hashed_id: str, name: str, op: dict[str, Any], *, now: datetime
) -> QueueItem:
    opts = op.get("opts") or {}
    return QueueItem(
        run=run,
        function=run.function,
        step_id=hashed_id,
        step_name=name[:255],
        parallel_mode=parallel_mode(opts),
        attempt=0,
        max_attempts=run.function.max_attempts,
        priority=0,
        **item.same_queue(),
        available_at=now,
        order_at=now - timedelta(seconds=item.factor),
    )


def memo_save(run: Run, hashed_id: str, name: str, memo: Any, *, now: datetime) -> None:
    """Store a step's memo once (a repeated answer for the same step changes nothing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MEMO_INSERT_SQL,
            [run.pk, hashed_id, name[:255], json.dumps(memo), run.steps_done, now],
        )
        if cursor.fetchone() is not None:
            run.steps_done += 1


def item_to_discovery(item: QueueItem, *, available_at: datetime, max_attempts: int | None = None) -> None:
    """Reuse the item as the run's next discovery request (attempts start again at 0, of `max_attempts` when
    given), ready at `available_at`."""
    with connection.cursor() as cursor:
        cursor.execute(_TO_DISCOVERY_SQL, [QueueItem.DISCOVERY, max_attempts, available_at, available_at, item.pk])


def item_delete(item: QueueItem) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_ITEM_DELETE_SQL, [item.pk])


def run_save_progress(run: Run) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_PROGRESS_SAVE_SQL, [run.force_step_plan, run.steps_done, run.pk])


# Lock order is always run, then its items (run_cancel does the same): sibling steps answering together queue on
# the run, and the one that ends the run can delete the others' items without waiting on a lock they hold.
# (Locking `FOR UPDATE OF i, r` took the item first and deadlocked against a sibling failing the run.)
_ITEM_LOCK_SQL = statement("item_lock")  # the item's columns: ITEM_FIELDS, RUN_FIELDS, FUNCTION_FIELDS, in order


def item_lock(*, item_id: int, owner: str, savepoint: str = "") -> QueueItem | None:
    """Lock a leased item's run, then the item (see the lock order above); None if the lease is gone.

    One round trip for both locks: the statement is two, run in the order written (queries.sql item_lock).
    `savepoint`: a savepoint's SQL sent first in the same round trip (an answer applied in a batch,
    answer_batch.py), so that the batch's answers each roll back alone at no extra round trip.
    """
    with connection.cursor() as cursor:
        if savepoint:
            cursor.execute(several(f"{savepoint}; {_ITEM_LOCK_SQL}", [item_id, item_id, owner]))
            cursor.nextset()  # past the savepoint's empty result
        else:
            cursor.execute(several(_ITEM_LOCK_SQL, [item_id, item_id, owner]))
        cursor.nextset()  # past the run's lock; its row only says the item existed, which the item's says too
        row = cursor.fetchone()
    if row is None:
        return None
    item_end, run_end = len(ITEM_FIELDS), len(ITEM_FIELDS) + len(RUN_FIELDS)
    item = model_from_row(QueueItem, ITEM_FIELDS, row[:item_end])
    run = model_from_row(Run, RUN_FIELDS, row[item_end:run_end])
    function = model_from_row(Function, FUNCTION_FIELDS, row[run_end:])
    Run.function.field.set_cached_value(run, function)
    QueueItem.run.field.set_cached_value(item, run)
    QueueItem.function.field.set_cached_value(item, function)
    return item


def item_retry(item: QueueItem, delay: timedelta, *, now: datetime) -> None:
    item.attempt += 1
    item.priority = 0
    item.available_at = now + delay
    item.order_at = item.available_at - timedelta(seconds=item.factor)
    item.lease_owner = item.lease_expires_at = None
    item.generation += 1  # the retry is a request of its own: the failed attempt's is stale from now on
    fields = ["attempt", "priority", "available_at", "order_at", "lease_owner", "lease_expires_at", "generation"]
    item.save(update_fields=fields)
