"""The engine's writes before a request: event intake, run scheduling, cron, and building the request.

Each function is one transaction. Applying the SDK's answer (and ending or cancelling runs) is in answers.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from ulid import ULID

from . import delayed, expressions, gates
from .models import Event, Function, QueueItem, Run, Trigger
from .protocol import (
    DEDUPE_WINDOW,
    IncomingEvent,
    concurrency_queue_key,
    datetime_to_ms,
    event_ids_from_seed,
)
from .registry import cron_next

logger = logging.getLogger(__name__)


def delay_scale() -> float:
    return float(getattr(settings, "ENGINE_DELAY_SCALE", 1.0))


# --- Intake ---------------------------------------------------------------------------------------------


def events_ingest(*, events: list[IncomingEvent], seed: str | None = None) -> list[str]:
    """Store a validated batch and start the runs it triggers; returns the ULIDs (stable for a retried send)."""
    ids = event_ids_from_seed(seed, len(events))
    with transaction.atomic():
        runs = _events_store(list(zip(ids, events, strict=True)), now=timezone.now())
        if runs:
            transaction.on_commit(work_notify)
    return ids


WORK_CHANNEL = "engine_work"


def work_notify() -> None:
    """Wake idle dispatchers at once (they LISTEN); without it they would find the work at their next poll."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [WORK_CHANNEL])


def _events_store(pairs: list[tuple[str, IncomingEvent]], *, now: datetime, fresh_ids: bool = False) -> list[Run]:
    """Insert events (skipping ids already stored: a retried send) and schedule their runs. Inside a transaction."""
    if not fresh_ids:
        known = set(Event.objects.filter(internal_id__in=[i for i, _ in pairs]).values_list("internal_id", flat=True))
        pairs = [(internal_id, event) for internal_id, event in pairs if internal_id not in known]
    if not pairs:
        return []
    duplicates = _claim_external_ids(pairs, now=now)
    rows = Event.objects.bulk_create(
        [
            Event(
                internal_id=internal_id,
                external_id=event.external_id,
                name=event.name,
                data=event.data,
                ts=event.ts,
                duplicate=internal_id in duplicates,
                received_at=now,
            )
            for internal_id, event in pairs
        ]
    )
    fresh = [row for row in rows if not row.duplicate]
    _events_match_waiting_runs(fresh, now=now)
    return _runs_trigger(fresh, now=now)


def _events_match_waiting_runs(rows: list[Event], *, now: datetime) -> None:
    """Resume runs waiting on these events (wait_for_event, invoke) and cancel runs they cancel (cancel-on).

    Before the new runs are started: an event never cancels a run it starts itself (Inngest compares the event's id
    with the run's, executor.go handlePause). Imported here: both modules build on this one.
    """
    from .cancellation import runs_cancel_for_events
    from .pause_resume import pauses_resume_for_events

    if rows:
        pauses_resume_for_events(rows, now=now)
        runs_cancel_for_events(rows, now=now)


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
        cursor.execute(
            """
            INSERT INTO engine_eventidempotency (key, event_internal_id, seen_at)
            SELECT k, i, %s FROM unnest(%s::text[], %s::text[]) AS t(k, i)
            ON CONFLICT (key) DO UPDATE
               SET event_internal_id = EXCLUDED.event_internal_id, seen_at = EXCLUDED.seen_at
             WHERE engine_eventidempotency.seen_at < %s
            RETURNING key
            """,
            [now, keys, [first[k] for k in keys], now - DEDUPE_WINDOW],
        )
        fresh = {row[0] for row in cursor.fetchall()}
    duplicates.update(first[key] for key in keys if key not in fresh)
    return duplicates


def _runs_trigger(rows: list[Event], *, now: datetime) -> list[Run]:
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
    for row in rows:
        started: set[object] = set()
        event_map = row.to_inngest()
        for expression, function in by_name.get(row.name, []):
            if function.pk in started:
                continue
            if expression and not expressions.matches(expression, {"event": event_map}):
                continue
            started.add(function.pk)
            starts.append((function, row))
    # Debounced and batching functions' events are held, not started (jobs/engine/delayed.py).
    return runs_start(delayed.starts_hold(starts, now=now), now=now)


def runs_start(starts: list[tuple], *, now: datetime) -> list[Run]:
    """Create runs and their first discovery items; concurrency keys are evaluated here, once per run.

    Each start is (function, event), or (function, first event, every event's map) for a batch.
    """
    runs: list[Run] = []
    items: list[QueueItem] = []
    # A batch's start carries every event's map; the gates decide on (function, first event) pairs.
    batches = {(start[0].pk, start[1].pk): start[2] for start in starts if len(start) > 2}
    admission = gates.admit([(start[0], start[1]) for start in starts], now=now)
    for function, event, ready_at, factor in admission.starts:
        batch = batches.get((function.pk, event.pk))
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
        items.append(_discovery_item(run, function, now=ready_at, continuing=False, factor=factor))
    Run.objects.bulk_create(runs)
    for item, run in zip(items, runs, strict=True):
        item.run = run
    QueueItem.objects.bulk_create(items)
    admission.finish(runs)
    return runs


def _queue_key(run: Run, function: Function) -> str:
    """The key queue a run's work waits in: its keyed concurrency queue (the tenant), else the function's."""
    for entry, key in zip(function.concurrency, run.concurrency, strict=False):
        if entry["key"] is not None:
            return key["key"]
    return f"f:{function.slug}"


def _discovery_item(run: Run, function: Function, *, now: datetime, continuing: bool, factor: int = 0) -> QueueItem:
    keys = run.concurrency + [{"key": "", "limit": 0}] * 2
    return QueueItem(
        run=run,
        function=function,
        step_id=QueueItem.DISCOVERY,
        attempt=0,
        max_attempts=function.max_attempts,
        queue_key=_queue_key(run, function),
        priority=0 if continuing else 1,
        key1=keys[0]["key"],
        limit1=keys[0]["limit"],
        key2=keys[1]["key"],
        limit2=keys[1]["limit"],
        available_at=now,
        factor=factor,
        order_at=now - timedelta(seconds=factor),
    )


def system_events_store(events: list[IncomingEvent], *, now: datetime) -> list[Run]:
    """Store events the engine itself emits (`inngest/*`), which ingest would reject from clients."""
    return _events_store([(str(ULID()), event) for event in events], now=now, fresh_ids=True)


# --- Cron -----------------------------------------------------------------------------------------------


def cron_fire_due(*, now: datetime | None = None) -> int:
    """Start the runs of every cron trigger that is due; each fires once, then is set to its next time."""
    now = now or timezone.now()
    fired = 0
    with transaction.atomic():
        due = list(
            Trigger.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_fire_at__lte=now, function__archived_at__isnull=True)
            .exclude(cron="")
            .select_related("function")
        )
        for trigger in due:
            scheduled_at = trigger.next_fire_at
            event = Event.objects.create(
                internal_id=str(ULID()),
                name="inngest/scheduled.timer",
                data={"cron": trigger.cron, "scheduledAt": scheduled_at.isoformat(), "fireAt": now.isoformat()},
                ts=datetime_to_ms(now),
                received_at=now,
            )
            # Debounced as Inngest debounces a cron's run; never batched (delayed.starts_hold).
            runs_start(delayed.starts_hold([(trigger.function, event)], now=now, batching=False), now=now)
            trigger.next_fire_at = cron_next(trigger.cron, after=max(now, scheduled_at))
            trigger.save(update_fields=["next_fire_at"])
            fired += 1
    return fired


# --- Building a request ---------------------------------------------------------------------------------


@dataclass
class CallRequest:
    url: str
    body: dict[str, Any]
    run_id: str
    function_slug: str
    step_name: str
    request_version: int = -1
    refused: str = ""  # the function is refused (an option the engine lacks): fail the run instead of calling
    ai_request: dict[str, Any] | None = None  # a step.ai.infer step: the engine calls the provider (ai_gateway.py)
    pause_timeout: bool = False  # a wait's or invoke's timeout (pauses.py): no request, the pause times out


def call_request_build(*, item_id: int, owner: str) -> CallRequest | None:
    """The SDK request for a leased item (None if the lease was lost or ran out); one query, memos included.

    `owner` is the claim's lease token: an item claimed again since (its lease ran out) has another.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.step_id, i.step_name, i.attempt, i.max_attempts, r.run_id, r.events, r.force_step_plan,
                   r.request_version, f.id, f.slug, f.step_url, f.refused,
                   (SELECT json_agg(json_build_array(m.hashed_id, m.memo) ORDER BY m.position)
                      FROM engine_stepmemo m WHERE m.run_id = r.id),
                   (SELECT g.opts FROM engine_gatewayrequest g WHERE g.run_id = r.id AND g.hashed_id = i.step_id)
              FROM engine_queueitem i
              JOIN engine_run r ON r.id = i.run_id
              JOIN engine_function f ON f.id = i.function_id
             WHERE i.id = %s AND i.lease_owner = %s AND i.lease_expires_at > %s
            """,
            [item_id, owner, timezone.now()],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    (
        step_id,
        step_name,
        attempt,
        max_attempts,
        run_id,
        events,
        force_step_plan,
        request_version,
        fn_id,
        slug,
        step_url,
        refused,
        memos,
        ai_request,
    ) = row
    if step_id.startswith(QueueItem.PAUSE_TIMEOUT_PREFIX):
        return CallRequest(url="", body={}, run_id=run_id, function_slug=slug, step_name=step_name, pause_timeout=True)
    events = _json(events) or [{"name": "inngest/unknown", "data": {}, "id": run_id, "ts": 0}]
    memos = _json(memos) or []
    stack = [hashed_id for hashed_id, _ in memos]
    body = {
        "event": events[0],
        "events": events,
        "steps": dict(memos),
        "ctx": {
            "fn_id": str(fn_id),
            "run_id": run_id,
            "env": "",
            "step_id": step_id,
            "attempt": attempt,
            "max_attempts": max_attempts,
            "stack": {"stack": stack, "current": len(stack)},
            "disable_immediate_execution": force_step_plan,
            "use_api": False,
        },
        # Inngest starts a run at request version -1 (the SDK picks) and keeps the version the SDK answers with
        # (executor.go HandleGeneratorResponse; driver/request.go sends it as `version`).
        "version": request_version,
        "use_api": False,
    }
    return CallRequest(
        url=_step_url(step_url, step_id),
        body=body,
        run_id=run_id,
        function_slug=slug,
        step_name=step_name or step_id,
        request_version=request_version,
        refused=refused,
        ai_request=_json(ai_request),
    )


def _json(value: Any) -> Any:
    """Raw queries get json/jsonb as text (Django registers a text loader for psycopg); parse it."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _step_url(step_url: str, step_id: str) -> str:
    base, _, query = step_url.partition("?")
    params = [part for part in query.split("&") if part and not part.startswith("stepId=")]
    params.append(f"stepId={step_id}")
    return f"{base}?{'&'.join(params)}"


# --- Reading rows with raw SQL (the hot paths) ----------------------------------------------------------

ITEM_FIELDS = QueueItem._meta.concrete_fields
RUN_FIELDS = Run._meta.concrete_fields
FUNCTION_FIELDS = Function._meta.concrete_fields


def sql_columns(alias: str, fields: Any) -> str:
    return ", ".join(f"{alias}.{field.column}" for field in fields)


def model_from_row(model: Any, fields: Any, values: tuple) -> Any:
    """A model instance from raw column values (what a compiled ORM query would build, for less CPU)."""
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


_TRIGGERS_SQL = (
    f"SELECT t.event_name, t.expression, {sql_columns('f', FUNCTION_FIELDS)}"  # noqa: S608
    " FROM engine_trigger t JOIN engine_function f ON f.id = t.function_id"
    " WHERE t.event_name = ANY(%s) AND f.archived_at IS NULL ORDER BY t.id"
)
