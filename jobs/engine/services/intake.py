"""Event intake and run scheduling: store events, resume or cancel the runs they concern, start the runs they trigger.

Each entry point is one transaction. Cron is cron.py, building a step's request call_request.py, applying the SDK's
answer answers.py, ending or cancelling runs endings.py.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from ulid import ULID

from .. import expressions, hooks
from ..clock import delay_scale
from ..models import Event, Function, QueueItem, Run
from ..protocol import DEDUPE_WINDOW, IncomingEvent, concurrency_queue_key, event_ids_from_seed
from ..queries import statement
from ..triggers import functions_for_events, start_at
from . import ledger_feed

logger = logging.getLogger(__name__)

_WORK_NOTIFY_SQL = statement("work_notify")
_EVENT_IDS_CLAIM_SQL = statement("event_ids_claim")
_EVENTS_INSERT_SQL = statement("events_insert")
_RUNS_INSERT_SQL = statement("runs_insert")


# --- Intake ---------------------------------------------------------------------------------------------


def events_ingest(*, events: list[IncomingEvent], seed: str | None = None) -> list[str]:
    """Store a validated batch and start the runs it triggers; returns the ULIDs (stable for a retried send)."""
    ids = event_ids_from_seed(seed, len(events))
    with transaction.atomic():
        _events_store(list(zip(ids, events, strict=True)), now=timezone.now())
        # Always: besides new runs, an event may resume a wait, or hold a debounce or batch with a new due time.
        work_notify()
    return ids


def work_notify() -> None:
    """Wake idle dispatchers at once (they LISTEN); without it they would find the work at their next poll.

    Called inside the transaction that stores the work: PostgreSQL delivers a NOTIFY only when its transaction
    commits (never on a rollback, nor from a savepoint rolled back) and sends repeats of it within one transaction
    once. Sent from `on_commit` instead, it was a statement and a commit of its own after every intake, answer and
    cancel that stored work, and once more for each place that asked.
    """
    with connection.cursor() as cursor:
        cursor.execute(_WORK_NOTIFY_SQL)


def _events_store(pairs: list[tuple[str, IncomingEvent]], *, now: datetime) -> list[Run]:
    """Insert events (skipping ids already stored: a retried send) and schedule their runs. Inside a transaction.

    One statement for the events (queries.sql events_insert), not the ORM's bulk_create and a read of the ids
    already stored before it: intake runs for every event sent and for every run's end (system events).
    """
    duplicates = _claim_external_ids(pairs, now=now)
    with connection.cursor() as cursor:
        cursor.execute(
            _EVENTS_INSERT_SQL,
            {
                "now": now,
                "events": json.dumps(
                    [
                        {
                            "internal_id": internal_id,
                            "external_id": event.external_id,
                            "name": event.name,
                            "data": event.data,
                            "ts": event.ts,
                            "version": event.version,
                            "duplicate": internal_id in duplicates,
                        }
                        for internal_id, event in pairs
                    ]
                ),
            },
        )
        stored = {internal_id: pk for pk, internal_id in cursor.fetchall()}
    rows = [
        _stored_event(stored[internal_id], internal_id, event, duplicate=internal_id in duplicates, now=now)
        for internal_id, event in pairs
        if internal_id in stored
    ]
    fresh = [row for row in rows if not row.duplicate]
    _events_match_waiting_runs(fresh, now=now)
    return _runs_trigger(fresh, now=now)


def _stored_event(pk: int, internal_id: str, event: IncomingEvent, *, duplicate: bool, now: datetime) -> Event:
    """The row events_insert stored, as the model (no query: every column is known here)."""
    row = Event(
        id=pk,
        internal_id=internal_id,
        external_id=event.external_id,
        name=event.name,
        data=event.data,
        ts=event.ts,
        version=event.version,
        duplicate=duplicate,
        received_at=now,
    )
    row._state.adding = False
    row._state.db = connection.alias
    return row


def _events_match_waiting_runs(rows: list[Event], *, now: datetime) -> None:
    """Resume runs waiting on these events (wait_for_event, invoke) and cancel runs they cancel (cancel-on): the
    features registered with `hooks.on_events` (pause_resume.py, cancellation.py).

    Before the new runs are started: an event never cancels a run it starts itself (Inngest compares the event's id
    with the run's, executor.go handlePause).
    """
    if rows:
        hooks.events_received(rows, now=now)


def _claim_external_ids(pairs: list[tuple[str, IncomingEvent]], *, now: datetime) -> set[str]:
    """The internal ids of events whose user-given `id` was already seen within 24 hours."""
    first: dict[str, str] = {}
    duplicates: set[str] = set()
    for internal_id, event in pairs:
        if not event.external_id:
            continue
        if event.external_id in first:
            duplicates.add(internal_id)
        else:
            first[event.external_id] = internal_id
    if not first:
        return duplicates
    keys = list(first)
    with connection.cursor() as cursor:
        # Insert, or take over an entry older than the window; RETURNING lists the ids that are first.
        cursor.execute(_EVENT_IDS_CLAIM_SQL, [now, keys, [first[k] for k in keys], now - DEDUPE_WINDOW])
        fresh = {row[0] for row in cursor.fetchall()}
    duplicates.update(first[key] for key in keys if key not in fresh)
    return duplicates


def _runs_trigger(rows: list[Event], *, now: datetime) -> list[Run]:
    starts = functions_for_events(rows, now=now)
    # Debounced and batching functions' events are held, not started (jobs/engine/delayed.py, through hooks).
    return runs_start(hooks.hold_starts(starts, now=now), now=now)


def runs_start(starts: list[tuple], *, now: datetime, rerun: bool = False) -> list[Run]:
    """Create runs and their first discovery items; concurrency keys are evaluated here, once per run.

    Each start is (function, event), or (function, first event, every event's map) for a batch. `rerun`: the
    starts rerun earlier runs (jobs/engine/rerun.py) and pass the rate limit and idempotency (gates.admit, the
    admission registered with hooks.py).
    """
    runs: list[Run] = []
    items: list[dict[str, Any]] = []
    # A batch's start carries every event's map; the gates decide on (function, first event) pairs.
    batches = {(start[0].pk, start[1].pk): start[2] for start in starts if len(start) > 2}
    admission = hooks.admit([(start[0], start[1]) for start in starts], now=now, rerun=rerun)
    for function, event, ready_at, factor in admission.starts:
        batch = batches.get((function.pk, event.pk))
        if batch is None:  # an event whose `ts` is in the future starts its run then (triggers.py)
            ready_at = start_at(event, ready_at, now=now, scale=delay_scale())
        event_map = event.to_inngest()
        keys = [
            {
                "key": concurrency_queue_key(
                    scope=entry["scope"],
                    function_slug=function.slug,
                    value=None if entry["key"] is None else expressions.key_value(entry["key"], {"event": event_map}),
                ),
                "limit": entry["limit"],
            }
            for entry in function.concurrency
        ]
        run = Run(
            run_id=str(ULID()),
            function=function,
            event=event,
            events=batch if batch is not None else [event_map],
            concurrency=keys,
            created_at=now,
        )
        runs.append(run)
        items.append(_discovery_item(run, function, now=ready_at, factor=factor))
    _runs_insert(runs, items, now=now)
    admission.finish(runs)
    ledger_feed.runs_started(runs, now=now)
    return runs


def _runs_insert(runs: list[Run], items: list[dict[str, Any]], *, now: datetime) -> None:
    """Store the runs and their discovery items in one statement (queries.sql runs_insert), not the ORM's two
    bulk_creates: most events sent start a run, and the ORM's insert compiler was about a third of the intake's
    client CPU (bench/intake_cost.py). The runs get their ids; every other column is known here."""
    if not runs:
        return
    starts = [
        {
            "run_id": run.run_id,
            "function_id": str(run.function_id),
            "event_id": run.event_id,
            "events": run.events,
            "concurrency": run.concurrency,
            **item,
        }
        for run, item in zip(runs, items, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(_RUNS_INSERT_SQL, {"now": now, "starts": json.dumps(starts)})
        ids = {run_id: pk for pk, run_id in cursor.fetchall()}
    for run in runs:
        run.pk = ids[run.run_id]
        run._state.adding = False
        run._state.db = connection.alias


def _queue_key(run: Run, function: Function) -> str:
    """The key queue a run's work waits in: its keyed concurrency queue (the tenant), else the function's."""
    for entry, key in zip(function.concurrency, run.concurrency, strict=False):
        if entry["key"] is not None:
            return key["key"]
    return f"f:{function.slug}"


def _discovery_item(run: Run, function: Function, *, now: datetime, factor: int) -> dict[str, Any]:
    """A new run's first queue item (its discovery request) as runs_insert's columns. It waits behind the continuing
    runs of its key queue (priority 1 against their 0); `factor` shifts only its place in the queue."""
    keys = run.concurrency + [{"key": "", "limit": 0}] * 2
    return {
        "step_id": QueueItem.DISCOVERY,
        "max_attempts": function.max_attempts,
        "queue_key": _queue_key(run, function),
        "priority": 1,
        "key1": keys[0]["key"],
        "limit1": keys[0]["limit"],
        "key2": keys[1]["key"],
        "limit2": keys[1]["limit"],
        "available_at": now.isoformat(),
        "factor": factor,
        "order_at": (now - timedelta(seconds=factor)).isoformat(),
    }


def system_events_store(events: list[IncomingEvent], *, now: datetime) -> list[Run]:
    """Store events the engine itself emits (`inngest/*`), which ingest would reject from clients."""
    return _events_store([(str(ULID()), event) for event in events], now=now)
