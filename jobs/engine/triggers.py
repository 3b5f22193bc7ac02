"""Which functions an event starts: its name against the functions' event triggers (wildcards included), then each
trigger's expression.

A function stored with an invalid config (registry.py) is matched by its event names but never started: the event
is recorded as a SkippedRun saying why, where the admin lists runs that flow control kept from starting.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection

from . import expressions
from .gate_models import SkippedRun
from .models import Event, Function
from .protocol import ms_to_datetime, scale_delay
from .queries import statement
from .services.rows import FUNCTION_FIELDS, model_from_row

logger = logging.getLogger(__name__)

_TRIGGERS_SQL = statement("triggers_for_events")


def matching_patterns(name: str) -> list[str]:
    """The trigger names an event name matches: itself, and each wildcard over a prefix ending at a `/` or a `.`.

    Inngest's rule (pkg/event_trigger_patterns/patterns.go `GenerateMatchingPatterns`, used by
    pkg/execution/runner/runner.go to find the functions an event triggers): `app/user.created` matches
    `app/user.created`, `app/*` and `app/user.*`.
    """
    patterns = [name]
    for separator in ("/", "."):
        parts = name.split(separator)
        patterns += [separator.join(parts[: n + 1]) + separator + "*" for n in range(len(parts) - 1)]
    return patterns


def is_wildcard(name: str) -> bool:
    """A trigger name some event can match through a wildcard: one `*`, at the end, after a `/` or a `.`."""
    return name.count("*") == 1 and name.endswith(("/*", ".*")) and len(name) > 2


def functions_for_events(rows: list[Event], *, now: datetime) -> list[tuple[Function, Event]]:
    """(function, event) for each function each event starts, at most once per function and event."""
    if not rows:
        return []
    patterns = {row.name: matching_patterns(row.name) for row in rows}
    by_name: dict[str, list[tuple[int, str, Function]]] = {}
    with connection.cursor() as cursor:
        # Raw SQL: this runs for every finished run (its `function.finished` event), so it must stay cheap.
        cursor.execute(_TRIGGERS_SQL, [list({p for names in patterns.values() for p in names})])
        for trigger_id, event_name, expression, *function_values in cursor.fetchall():
            function = model_from_row(Function, FUNCTION_FIELDS, tuple(function_values))
            by_name.setdefault(event_name, []).append((trigger_id, expression, function))
    starts: list[tuple[Function, Event]] = []
    skipped: list[SkippedRun] = []
    for row in rows:
        seen: set[object] = set()
        event_map = row.to_inngest()
        # Each function once per event, however many of its triggers match (runner.go initialises it once).
        matched = sorted((t for pattern in patterns[row.name] for t in by_name.get(pattern, [])), key=lambda t: t[0])
        for _, expression, function in matched:
            if function.pk in seen:
                continue
            if expression and not expressions.matches(expression, {"event": event_map}):
                continue
            seen.add(function.pk)
            if function.config_error:
                skipped.append(_not_started(function, row, now=now))
            else:
                starts.append((function, row))
    SkippedRun.objects.bulk_create(skipped)
    return starts


def start_at(event: Event, ready_at: datetime, *, now: datetime, scale: float) -> datetime:
    """When the run of one event starts: at the event's `ts` when that is in the future, as Inngest schedules it
    (pkg/execution/executor/executor.go `Schedule`: `at` is the event's `ts` when it is after now, for a run that
    is not a batch's; no cap applies there, and intake bounds `ts` to 2100). Scaled like every engine delay."""
    ahead = ms_to_datetime(event.ts) - now
    if ahead <= timedelta(0):
        return ready_at
    return max(ready_at, now + scale_delay(ahead, scale))


def _not_started(function: Function, event: Event, *, now: datetime) -> SkippedRun:
    logger.warning(
        "run not started: the function's config is invalid",
        extra={"function": function.slug, "event_id": event.internal_id, "error": function.config_error},
    )
    return SkippedRun(
        function=function,
        event=event,
        reason=SkippedRun.Reason.CONFIG_ERROR,
        detail=function.config_error,
        created_at=now,
    )
