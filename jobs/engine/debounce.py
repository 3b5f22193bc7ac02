"""Debounce (`debounce: {period, key, timeout}`): a burst of events for one key starts one run, with the last event.

Follows inngest/inngest pkg/execution/debounce/debounce.go and its Redis scripts
(pkg/execution/state/redis_state/lua/debounce/*.lua), with one PostgreSQL row per function and key in place of
the pointer, the stored item and the timeout job:
- `Debounce` / `newDebounce`: the first event stores the pending debounce; its run is due `period` after it, or at
  `timeout` after it when that is sooner (the timeout is fixed by the first event: `di.Timeout`).
- `updateDebounce` / updateDebounce.lua: a later event replaces the held event and moves the deadline to now +
  period, capped by the first event's timeout; an event whose `ts` is older than the held one changes nothing
  (status -2, "out of order").
- `StartExecution` / start.lua: starting swaps the pointer, so an event that arrives while the run is starting
  opens a new debounce. Here the due row is locked and deleted in the transaction that starts the run; an event's
  upsert waits on that row lock and, the row gone, inserts a new debounce (PostgreSQL's ON CONFLICT re-checks).
- `debounceKey`: the function's id without a key; the key expression's value (strings as they are, other values
  as text); "<invalid>" when it cannot be evaluated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from . import expressions, hooks
from .models import Event, Function, PendingDebounce
from .protocol import ProtocolError, config_duration, scale_delay
from .queries import statement

# pkg/consts: MinDebouncePeriod, MaxDebouncePeriod.
MIN_PERIOD = timedelta(seconds=1)
MAX_PERIOD = timedelta(days=7)
MAX_KEY_LENGTH = 200
INVALID_KEY = "<invalid>"


@dataclass(frozen=True)
class DebounceConfig:
    period: timedelta
    key: str | None
    timeout: timedelta | None


def debounce_config(config: dict[str, Any]) -> DebounceConfig | None:
    """The function's debounce, or None; raises ProtocolError when it is invalid (checked at sync)."""
    raw = config.get("debounce")
    if raw in (None, {}):
        return None
    if not isinstance(raw, dict):
        raise ProtocolError("debounce must be an object with `period`")
    period = config_duration(raw.get("period"), what="debounce `period`")
    # pkg/inngest/function.go Validate: period between MinDebouncePeriod and MaxDebouncePeriod.
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        raise ProtocolError(f"debounce `period` must be from 1s to 7d, not {raw.get('period')!r}")
    key = raw.get("key") or None  # some clients send "" for no key (function.go Validate)
    if key is not None:
        expressions.check(key, what="debounce `key`")
    timeout = config_duration(raw["timeout"], what="debounce `timeout`") if raw.get("timeout") else None
    return DebounceConfig(period=period, key=key, timeout=timeout)


def debounce_key(config: DebounceConfig, function: Function, event_map: dict[str, Any]) -> str:
    """debounce.go debounceKey: the function's id, or the key's value; long values are hashed to fit the column."""
    if config.key is None:
        return str(function.pk)
    try:
        value = expressions.evaluate(config.key, {"event": event_map})
    except expressions.ExpressionError:
        return INVALID_KEY
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_KEY_LENGTH else hashlib.sha256(text.encode()).hexdigest()


_UPSERT_SQL = statement("debounce_upsert")
_DUE_SQL = statement("debounces_due")


def debounce_hold(
    function: Function, config: DebounceConfig, event: Event, *, key: str, now: datetime, scale: float
) -> None:
    """Hold the event as its key's latest (or open the key's debounce); inside the intake transaction."""
    timeout_at = now + scale_delay(config.timeout, scale) if config.timeout else None
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_SQL,
            {
                "function": function.pk,
                "key": key,
                "event": event.pk,
                "ts": event.ts,
                "due": now + scale_delay(config.period, scale),
                "timeout_at": timeout_at,
                "now": now,
            },
        )


def debounces_take_due(*, now: datetime, limit: int = 100) -> list[tuple[Function, Event]]:
    """Remove the due debounces (skipping rows an intake holds) and return what their runs start with."""
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL, [now, limit])
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return []
    due = list(PendingDebounce.objects.filter(id__in=ids).select_related("function", "event").order_by("fire_at"))
    PendingDebounce.objects.filter(id__in=ids).delete()
    return [(pending.function, pending.event) for pending in due if pending.function.archived_at is None]


@hooks.config_check(order=20)
def debounce_config_check(config: dict[str, Any]) -> None:
    """The function's `debounce`, checked at sync (hooks.config_check): ProtocolError when it is invalid."""
    debounce_config(config)
