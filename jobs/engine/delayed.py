"""Runs that do not start when their event arrives: debounced and batched functions (debounce.py, batching.py).

Intake hands every (function, event) it would start to `starts_hold`, which keeps back the events of functions
with `debounce` or `batchEvents`; the dispatcher's once-a-second tick (beside cron) calls `delayed_fire_due`,
which starts the runs whose debounce period or batch timeout has passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import services
from .batching import batch_append, batch_config, batch_eligible, batches_take_due
from .debounce import debounce_config, debounce_hold, debounces_take_due
from .models import Event, Function

Start = tuple[Function, Event] | tuple[Function, Event, list[dict[str, Any]]]


def starts_hold(starts: list[tuple[Function, Event]], *, now: datetime) -> list[Start]:
    """The runs to start now (a full batch among them); debounced and batched events are held. In a transaction."""
    immediate: list[Start] = []
    scale = services.delay_scale()
    for function, event in starts:
        config = function.config or {}
        if not (config.get("debounce") or config.get("batchEvents")):
            immediate.append((function, event))
            continue
        debounce = debounce_config(config)
        if debounce is not None:
            debounce_hold(function, debounce, event, now=now, scale=scale)
            continue
        batching = batch_config(config)
        if batching is None or not batch_eligible(batching, event.to_inngest()):
            immediate.append((function, event))
            continue
        batch = batch_append(function, batching, event, now=now, scale=scale)
        if batch:
            immediate.append((function, batch[0], [item.to_inngest() for item in batch]))
    return immediate


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
                services.runs_start(starts, now=now)
                transaction.on_commit(services.work_notify)
        if not starts:
            return fired
        fired += len(starts)
