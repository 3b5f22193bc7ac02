"""Throttle, applied where Inngest applies it: when a run's first request is claimed, together with concurrency.

Inngest queues a throttled function's start items in a throttle backlog (pkg/execution/queue/backlog.go: "Set for
backlogs containing start items only") and checks the throttle with every other constraint when it leases one
(pkg/execution/queue/constraints.go `constraintItemsFromBacklog`, pkg/constraintapi/lua/acquire.lua): a slot is
taken only when every constraint has capacity, so a run held back by its concurrency limit uses no throttle slot,
and a throttled one waits until its slot (kind 3: a capacity of `limit + burst` at once, `maxBurst = limit +
burst - 1`, then one per `period / limit`). The claim (services/claims.py) chooses within the concurrency limits
first, then asks `hold_throttled` which of its choices wait: those get `available_at` at their slot's time and are
not leased. A slot is taken once per run: a retried or later request is no start item.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import expressions, gate_config, hooks
from .clock import delay_scale
from .gcra_keys import gcra_lock, gcra_store, key_bounded, key_hash, ns
from .models import QueueItem
from .queries import statement
from .services.rows import json_value

_STARTS_SQL = statement("throttle_starts")
_DEFER_SQL = statement("throttle_defer")


@hooks.claim_gate
def hold_throttled(cursor: Any, item_ids: list[int], *, now: datetime) -> set[int]:
    """Take a throttle slot for each first request in `item_ids` that has one now; defer and return the others."""
    if not item_ids:
        return set()
    cursor.execute(_STARTS_SQL, [item_ids, QueueItem.DISCOVERY])
    starts = cursor.fetchall()
    deferred: dict[int, datetime] = {}
    for item_id, slug, throttle, event in sorted(starts):  # by id: first queued, first served within a claim
        slot = _take_slot(cursor, slug, {"throttle": json_value(throttle)}, json_value(event), now=now)
        if slot > now:
            deferred[item_id] = slot
    if deferred:
        cursor.execute(_DEFER_SQL, [list(deferred), list(deferred.values())])
    return set(deferred)


def _take_slot(cursor: Any, slug: str, config: dict, event: dict, *, now: datetime) -> datetime:
    """Now when the key has a slot (taken), else the time its next slot comes (nothing taken)."""
    throttle = gate_config.throttle_of(config)
    key = f"t:{slug}"
    if throttle.key:
        key = f"{key}:{key_hash(expressions.key_value(throttle.key, {'event': event}))}"
    key = key_bounded(key)
    now_ns = ns(now)
    limit = max(throttle.limit, 1)
    emission = int(throttle.period.total_seconds() * delay_scale() * 1e9) // limit
    dvt = emission * (limit + throttle.burst)
    stored = gcra_lock(cursor, key)
    tat = now_ns if stored is None else stored
    slot_ns = max(now_ns, tat + emission - dvt)
    if slot_ns > now_ns:
        return now + timedelta(microseconds=(slot_ns - now_ns) // 1000)
    gcra_store(cursor, key, max(tat, now_ns) + emission)
    return now
