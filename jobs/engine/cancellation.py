"""Cancel-on: a function's `cancel` entries (event, `if`, timeout) cancel its runs when a matching event arrives.

Inngest stores one cancellation pause per entry when a run is scheduled (executor.go `createCancellationPauses`)
and matches incoming events against them (executor.go `handlePause`). The same rules here, without a row per run:
the functions whose `cancel` names the event are read from their stored config, then their unfinished runs, so
starting a run costs nothing extra. The rules kept:
- `if` is CEL over `event` (the run's triggering event) and `async` (the incoming one);
- only an event that arrived after the run matches: Inngest compares the event's ULID with the run's;
- an entry's timeout counts from the run's start (the pause expires then); without one, a year
  (consts.CancelTimeout); scaled by ENGINE_DELAY_SCALE like every engine delay;
- the cancel itself is `DELETE /v1/runs/<id>`'s (services/endings.py `run_cancel`): status cancelled,
  `inngest/function.cancelled` emitted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection

from . import expressions, hooks
from .clock import scaled
from .if_index import IfIndex, equality_shape
from .models import Event
from .protocol import ProtocolError, config_duration
from .queries import fetch_rows, statement
from .services.endings import RunAlreadyFinished, RunNotFound, run_cancel
from .services.rows import json_value

logger = logging.getLogger(__name__)

MAX_CANCELLATIONS = 5  # consts.MaxCancellations; more is a sync error in Inngest (inngest/function.go Validate)
CANCEL_DEFAULT_TIMEOUT = timedelta(days=365)  # consts.CancelTimeout

_CANCELLERS_SQL = statement("cancellers_for_events")
_ACTIVE_RUNS_SQL = statement("runs_active")
# For an `if` of the shape `event.<a> == async.<b>`: only the runs whose triggering event's <a> is one of the
# events' <b> (jsonb equality compares numbers by value and maps whatever their key order, as CEL does).
_ACTIVE_RUNS_BY_VALUE_SQL = statement("runs_active_by_value")


@hooks.config_check(order=10)
def cancel_config_check(config: dict[str, Any]) -> None:
    """The function's `cancel` entries, checked at sync (hooks.config_check)."""
    cancel_entries_check(config.get("cancel"))


def cancel_entries_check(entries: object) -> None:
    """Validate a function's `cancel` config at sync; ProtocolError says what is wrong."""
    if entries in (None, []):
        return
    if not isinstance(entries, list):
        raise ProtocolError("`cancel` must be a list of {event, if, timeout}")
    if len(entries) > MAX_CANCELLATIONS:
        raise ProtocolError(f"at most {MAX_CANCELLATIONS} cancel entries are allowed (Inngest's limit)")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("event"), str) or not entry["event"]:
            raise ProtocolError("each cancel entry needs an `event` name")
        if entry.get("if"):
            expressions.check(entry["if"], what="cancel `if`", variables=("event", "async"))
        if entry.get("timeout") is not None:
            _timeout(entry)


def _timeout(entry: dict[str, Any]) -> timedelta:
    timeout = entry.get("timeout")
    if timeout is None:
        return CANCEL_DEFAULT_TIMEOUT
    # Inngest also takes an RFC 3339 time here (util/strtimeout): a fixed instant for every run, which the Python
    # SDK never sends; a duration is all this engine accepts, so anything else is refused at sync, not guessed.
    return config_duration(timeout, what="cancel `timeout`")


@hooks.on_events(order=20)  # after waits are resumed (pause_resume.py), as intake did it
def runs_cancel_for_events(events: list[Event], *, now: datetime) -> int:
    """Cancel the unfinished runs these just-stored events cancel; returns how many were cancelled.

    Runs are narrowed by their `if`'s value (if_index.py), so a batch costs about one check per event and entry,
    not one per event and run; CEL decides every cancel.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CANCELLERS_SQL, [list({event.name for event in events})])
        cancellers = fetch_rows(cursor, _Canceller)
    to_cancel: set[str] = set()
    for canceller in cancellers:
        for entry in json_value(canceller.entries):
            matching = [event for event in events if event.name == entry.get("event")]
            if matching:
                to_cancel.update(_runs_cancelled_by(canceller.function_pk, entry, matching, now=now))
    return sum(_cancel(run_id) for run_id in sorted(to_cancel))


def _runs_cancelled_by(function_pk: object, entry: dict[str, Any], events: list[Event], *, now: datetime) -> set[str]:
    expression = entry.get("if") or ""
    # A run started earlier: its cancellation pause has expired. Scaled by ENGINE_DELAY_SCALE like every other
    # engine delay (a sleep, a wait's timeout), so tests and demos keep the entries' proportions.
    oldest = now - scaled(_timeout(entry))
    shape = equality_shape(expression) if expression else None
    with connection.cursor() as cursor:
        if shape is None:
            cursor.execute(_ACTIVE_RUNS_SQL, [function_pk, oldest])
        else:
            event_path, async_path = shape
            values = [value for event in events for value in _value_at(event.to_inngest(), async_path)]
            if not values:
                return set()  # no event carries the field: the `if` holds for none of them
            cursor.execute(_ACTIVE_RUNS_BY_VALUE_SQL, [function_pk, oldest, event_path.split("."), values])
        runs = [
            _ActiveRun(found.run_id, found.created_at, json_value(found.trigger) or {})
            for found in fetch_rows(cursor, _RunRow)
        ]
    index: IfIndex[_ActiveRun] = IfIndex()
    for run in runs:
        index.add(run, expression, run.trigger)
    return {
        run.run_id for event in events for run in index.candidates(event.to_inngest()) if _cancels(event, entry, run)
    }


def _value_at(incoming: dict[str, Any], path: str) -> list[str]:
    value: object = incoming
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    return [json.dumps(value)]


class _Canceller(NamedTuple):
    """cancellers_for_events' row: a function and its `cancel` entries (jsonb, as text)."""

    function_pk: int
    entries: Any


class _RunRow(NamedTuple):
    """runs_active's row: an unfinished run and its triggering event (jsonb, as text)."""

    run_id: str
    created_at: datetime
    trigger: Any


@dataclass(frozen=True)
class _ActiveRun:
    run_id: str
    created_at: datetime
    trigger: dict[str, Any]


def _cancels(row: Event, entry: dict[str, Any], run: _ActiveRun) -> bool:
    if row.internal_id <= run.run_id:  # received before the run (executor.go handlePause: evtID <= RunID)
        return False
    expression = entry.get("if")
    return not expression or expressions.matches(expression, {"event": run.trigger, "async": row.to_inngest()})


def _cancel(run_id: str) -> int:
    try:
        run_cancel(run_id=run_id)
    except (RunAlreadyFinished, RunNotFound):
        return 0  # it ended meanwhile: nothing to cancel (Inngest ignores ErrFunctionComplete the same way)
    logger.info("run cancelled by an event", extra={"run_id": run_id})
    return 1
