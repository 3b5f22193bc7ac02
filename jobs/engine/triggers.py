"""Which functions an event starts: its name against the functions' event triggers, then each trigger's expression.

A function stored with an invalid config (registry.py) is matched by its event names but never started: the event
is recorded as a SkippedRun saying why, where the admin lists runs that flow control kept from starting.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import connection

from . import expressions
from .gate_models import SkippedRun
from .models import Event, Function
from .queries import statement
from .services.rows import FUNCTION_FIELDS, model_from_row

logger = logging.getLogger(__name__)

_TRIGGERS_SQL = statement("triggers_for_events")


def functions_for_events(rows: list[Event], *, now: datetime) -> list[tuple[Function, Event]]:
    """(function, event) for each function each event starts, at most once per function and event."""
    if not rows:
        return []
    by_name: dict[str, list[tuple[str, Function]]] = {}
    with connection.cursor() as cursor:
        # Raw SQL: this runs for every finished run (its `function.finished` event), so it must stay cheap.
        cursor.execute(_TRIGGERS_SQL, [list({row.name for row in rows})])
        for event_name, expression, *function_values in cursor.fetchall():
            function = model_from_row(Function, FUNCTION_FIELDS, tuple(function_values))
            by_name.setdefault(event_name, []).append((expression, function))
    starts: list[tuple[Function, Event]] = []
    skipped: list[SkippedRun] = []
    for row in rows:
        seen: set[object] = set()
        event_map = row.to_inngest()
        for expression, function in by_name.get(row.name, []):
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
