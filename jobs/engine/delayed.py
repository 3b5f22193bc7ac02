"""Runs that do not start when their event arrives: debounced and batched functions (debounce.py, batching.py).

Intake hands every (function, event) it would start to `starts_hold` (registered with hooks.py), which keeps back
the events of functions with `debounce` or `batchEvents`; the dispatcher's once-a-second tick (beside cron) calls
`delayed_fire_due`, which starts the runs whose debounce period or batch timeout has passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import hooks
from .batching import batch_append, batch_config, batch_eligible, batch_key, batches_take_due
from .clock import delay_scale
from .debounce import DebounceConfig, debounce_config, debounce_hold, debounce_key, debounces_take_due
from .models import Event, Function
from .services import intake

Start = tuple[Function, Event] | tuple[Function, Event, list[dict[str, Any]]]


@hooks.hold_starts_with
def starts_hold(starts: list[tuple[Function, Event]], *, now: datetime, batching: bool = True) -> list[Start]:
    """The runs to start now (a full batch among them); debounced and batched events are held. In a transaction.

    A cron's run is debounced but never batched (`batching=False`): Inngest schedules it straight through the
    executor's Schedule, which debounces, not through the runner, which batches (executor/service.go handleCron).

    The rows are written in (function, key) order, each key's events in arrival order: two intakes holding
    events for the same keys lock the rows in the same order, so they queue instead of deadlocking.
    """
    immediate: list[Start] = []
    holds: list[tuple[str, str, int, Function, Any, Event]] = []
    for position, (function, event) in enumerate(starts):
        config = function.config or {}
        if not (config.get("debounce") or config.get("batchEvents")):
            immediate.append((function, event))
            continue
        event_map = event.to_inngest()
        debounce = debounce_config(config)
        if debounce is not None:
            key = debounce_key(debounce, function, event_map)
            holds.append((str(function.pk), key, position, function, debounce, event))
            continue
        batch_options = batch_config(config) if batching else None
        if batch_options is None or not batch_eligible(batch_options, event_map):
            immediate.append((function, event))
            continue
        holds.append((str(function.pk), batch_key(batch_options, event_map), position, function, batch_options, event))
    scale = delay_scale()
    for _, key, _, function, config, event in sorted(holds, key=lambda hold: hold[:3]):
        if isinstance(config, DebounceConfig):
            debounce_hold(function, config, event, key=key, now=now, scale=scale)
            continue
        batch = batch_append(function, config, event, key=key, now=now, scale=scale)
        if batch:
            immediate.append((function, batch[0], [item.to_inngest() for item in batch]))
    return immediate


@hooks.tick(order=20)
def delayed_fire_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Start the runs of every due debounce and batch (each once: its row is deleted in the same transaction).

    In transactions of up to `limit` debounces and `limit` batches until none is due, so a thousand due at once
    do not wait a tick per hundred, and no transaction holds thousands of row locks.
    """
    now = now or timezone.now()
    fired = 0
    while True:
        with transaction.atomic():
            starts: list[Start] = list(debounces_take_due(now=now, limit=limit))
            batches = batches_take_due(now=now, limit=limit)
            starts += [(function, events[0], [e.to_inngest() for e in events]) for function, events in batches]
            if starts:
                intake.runs_start(starts, now=now)
                intake.work_notify()
        if not starts:
            return fired
        fired += len(starts)
