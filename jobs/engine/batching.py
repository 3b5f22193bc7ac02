"""Event batching (`batchEvents: {maxSize, timeout, key, if}`): one run for many events, with all of them.

Follows inngest/inngest pkg/execution/batch (redis.go `Append`, lua/append.lua) and executor.go
`AppendAndScheduleBatch` / `RetrieveAndScheduleBatch`, with one PostgreSQL row per open batch:
- the first event opens the key's batch and schedules it `timeout` later (status "new");
- an event that fills it (`maxSize` events, or 10 MiB of events: `defaultBatchSizeLimit`) starts its run at once
  and the next event opens a new batch (status "full" / "maxsize");
- the key is `batchEvents.key` evaluated on the event ("default" without one); runner.go: an event for which
  `batchEvents.if` is not true (or errors) is not batched and starts a run of its own at once;
- the run gets every event (`events`) and the first as `event`.
pkg/inngest/function.go Validate and batch.go IsValid are the sync rules: maxSize of at least 2, timeout of at
least 1s, and no batching together with cancel-on, debounce, singleton or a priority `run` expression.
Where Inngest drops an event whose batch key cannot be evaluated (batchPointer errors), the engine batches it
under "<invalid>" instead, so no event is lost.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection

from . import expressions, hooks
from .models import Event, Function, PendingBatch
from .protocol import ProtocolError, config_duration, scale_delay
from .queries import fetch_row, statement

DEFAULT_TIMEOUT = timedelta(seconds=60)  # pkg/consts DefaultBatchTimeout
MIN_TIMEOUT = timedelta(seconds=1)
BATCH_SIZE_LIMIT_BYTES = 10 * 1024 * 1024  # batch/redis.go defaultBatchSizeLimit
MAX_KEY_LENGTH = 200
# The engine's own bound (a batch's events go to the SDK in one request, at most BATCH_SIZE_LIMIT_BYTES): without
# one, a maxSize of 10^30 was accepted.
MAX_BATCH_SIZE = 10_000
DEFAULT_KEY = "default"
INVALID_KEY = "<invalid>"
EXCLUSIVE_OPTIONS = {"cancel": "cancellation", "debounce": "debouncing", "singleton": "singletons"}


@dataclass(frozen=True)
class BatchConfig:
    max_size: int
    timeout: timedelta
    key: str | None
    if_expression: str | None


def batch_config(config: dict[str, Any]) -> BatchConfig | None:
    """The function's batching, or None; raises ProtocolError when it is invalid (checked at sync)."""
    raw = config.get("batchEvents")
    if raw in (None, {}):
        return None
    if not isinstance(raw, dict):
        raise ProtocolError("batchEvents must be an object with `maxSize`")
    max_size = raw.get("maxSize")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or not 2 <= max_size <= MAX_BATCH_SIZE:
        raise ProtocolError(f"batchEvents `maxSize` must be an integer from 2 to {MAX_BATCH_SIZE}, not {max_size!r}")
    timeout = DEFAULT_TIMEOUT
    if raw.get("timeout"):
        timeout = config_duration(raw["timeout"], what="batchEvents `timeout`")
        if timeout < MIN_TIMEOUT:
            raise ProtocolError("batchEvents `timeout` should be at least 1s")
    key = raw.get("key") or None
    if key is not None:
        expressions.check(key, what="batchEvents `key`")
    if_expression = raw.get("if") or None
    if if_expression is not None:
        expressions.check(if_expression, what="batchEvents `if`")
    for option, label in EXCLUSIVE_OPTIONS.items():
        if config.get(option) not in (None, [], {}):
            raise ProtocolError(f"batching and {label} are mutually exclusive (as on Inngest)")
    if isinstance(config.get("priority"), dict) and config["priority"].get("run"):
        raise ProtocolError("a function cannot specify priority `run` and batchEvents together (as on Inngest)")
    return BatchConfig(max_size=max_size, timeout=timeout, key=key, if_expression=if_expression)


def batch_eligible(config: BatchConfig, event_map: dict[str, Any]) -> bool:
    """runner.go: without `if` every event is batched; with it, only events for which it is true."""
    return config.if_expression is None or expressions.matches(config.if_expression, {"event": event_map})


def batch_key(config: BatchConfig, event_map: dict[str, Any]) -> str:
    if config.key is None:
        return DEFAULT_KEY
    try:
        value = expressions.evaluate(config.key, {"event": event_map})
    except expressions.ExpressionError:
        return INVALID_KEY
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_KEY_LENGTH else hashlib.sha256(text.encode()).hexdigest()


_APPEND_SQL = statement("batch_append")
_CLOSE_SQL = statement("batch_close")
_DUE_SQL = statement("batches_due")


class _OpenBatch(NamedTuple):
    """batch_append's row: the key's batch once the event is in it."""

    id: int
    event_count: int
    size_bytes: int


def batch_append(
    function: Function, config: BatchConfig, event: Event, *, key: str, now: datetime, scale: float
) -> list[Event] | None:
    """Add the event to its key's open batch; returns the batch's events when this one filled it (it is closed)."""
    event_map = event.to_inngest()
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            {
                "function": function.pk,
                "key": key,
                "event": event.pk,
                "bytes": len(json.dumps(event_map)),
                "fire_at": now + scale_delay(config.timeout, scale),
                "now": now,
            },
        )
        batch = fetch_row(cursor, _OpenBatch)
    if batch.event_count < config.max_size and batch.size_bytes < BATCH_SIZE_LIMIT_BYTES:
        return None
    return _batch_close(batch.id)


def _batch_close(batch_id: int) -> list[Event]:
    """Delete the batch (its row is locked by this transaction) and return its events in arrival order."""
    with connection.cursor() as cursor:
        cursor.execute(_CLOSE_SQL, [batch_id])
        (event_ids,) = cursor.fetchone()
    event_ids = json.loads(event_ids) if isinstance(event_ids, str | bytes) else event_ids
    events = Event.objects.in_bulk(event_ids)
    return [events[event_id] for event_id in event_ids if event_id in events]


def batches_take_due(*, now: datetime, limit: int = 100) -> list[tuple[Function, list[Event]]]:
    """Close the batches whose timeout has passed (skipping rows an intake holds); their functions and events."""
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL, [now, limit])
        ids = [row[0] for row in cursor.fetchall()]
    functions = {
        batch.pk: batch.function for batch in PendingBatch.objects.filter(id__in=ids).select_related("function")
    }
    closed = [(functions[batch_id], _batch_close(batch_id)) for batch_id in ids]
    return [(function, events) for function, events in closed if events and function.archived_at is None]


@hooks.config_check(order=30)
def batch_config_check(config: dict[str, Any]) -> None:
    """The function's `batchEvents`, checked at sync (hooks.config_check): ProtocolError when it is invalid."""
    batch_config(config)
