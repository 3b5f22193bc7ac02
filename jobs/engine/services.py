"""The engine's writes before a request: event intake, run scheduling, cron, claiming queue items, the request.

Each function is one transaction. Applying the SDK's answer (and ending or cancelling runs) is in answers.py.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from ulid import ULID

from .models import Event, Function, QueueItem, Run, Trigger
from .protocol import (
    DEDUPE_WINDOW,
    IncomingEvent,
    concurrency_queue_key,
    datetime_to_ms,
    evaluate_concurrency_key,
    evaluate_trigger_expression,
    event_ids_from_seed,
)
from .registry import cron_next

logger = logging.getLogger(__name__)

# One claimer at a time computes in-flight counts and hands out slots, so limits hold across dispatchers.
CLAIM_LOCK_ID = 0x1A6E57  # an arbitrary constant for pg_try_advisory_xact_lock
# A claim looks at the least recently served key queues only, this many per free slot (bounds the claim's cost).
KEYS_PER_SLOT = 2


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
    return _runs_trigger([row for row in rows if not row.duplicate], now=now)


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
            if expression and not evaluate_trigger_expression(expression, event_map):
                continue
            started.add(function.pk)
            starts.append((function, row))
    return runs_start(starts, now=now)


def runs_start(starts: list[tuple[Function, Event]], *, now: datetime) -> list[Run]:
    """Create runs and their first discovery items; concurrency keys are evaluated here, once per run."""
    runs: list[Run] = []
    items: list[QueueItem] = []
    for function, event in starts:
        event_map = event.to_inngest()
        keys = [
            {
                "key": concurrency_queue_key(
                    scope=entry["scope"],
                    function_slug=function.slug,
                    value=None if entry["key"] is None else evaluate_concurrency_key(entry["key"], event_map),
                ),
                "limit": entry["limit"],
            }
            for entry in function.concurrency
        ]
        run = Run(
            run_id=str(ULID()),
            function=function,
            event=event,
            events=[event_map],
            concurrency=keys,
            created_at=now,
        )
        runs.append(run)
        items.append(_discovery_item(run, function, now=now, continuing=False))
    Run.objects.bulk_create(runs)
    for item, run in zip(items, runs, strict=True):
        item.run = run
    QueueItem.objects.bulk_create(items)
    return runs


def _queue_key(run: Run, function: Function) -> str:
    """The key queue a run's work waits in: its keyed concurrency queue (the tenant), else the function's."""
    for entry, key in zip(function.concurrency, run.concurrency, strict=False):
        if entry["key"] is not None:
            return key["key"]
    return f"f:{function.slug}"


def _discovery_item(run: Run, function: Function, *, now: datetime, continuing: bool) -> QueueItem:
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
            runs_start([(trigger.function, event)], now=now)
            trigger.next_fire_at = cron_next(trigger.cron, after=max(now, scheduled_at))
            trigger.save(update_fields=["next_fire_at"])
            fired += 1
    return fired


# --- Claiming -------------------------------------------------------------------------------------------


@dataclass
class ClaimedItem:
    id: int
    run_pk: int
    step_id: str
    attempt: int
    max_attempts: int
    spare: bool = False  # claimed for the spare worker (a key queue with nothing in flight)


def queue_claim(*, owner: str, capacity: int, lease_seconds: float, spare: int = 0) -> list[ClaimedItem]:
    """Lease up to `capacity` ready items, fairly across key queues and within every concurrency limit.

    Key queues with ready work are visited least-recently-served first (at most KEYS_PER_SLOT per free slot) and
    one item is taken from each per round, so a key with a backlog of thousands delays another key's work by at
    most one round. Within a key the order is continuing runs first, then by time: FIFO per key. A key whose head
    does not fit its concurrency limit is skipped whole (no overtaking inside a key) and loses its turn.

    `spare` slots go only to key queues with nothing in flight anywhere: with every worker busy on one tenant's
    backlog, another tenant's run still starts at once instead of waiting for a worker to free up.
    """
    if capacity <= 0 and spare <= 0:
        return []
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # One claimer at a time (others skip this tick): in-flight counts stay exact across dispatchers.
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [CLAIM_LOCK_ID])
        if not cursor.fetchone()[0]:
            return []
        in_flight, busy_queues = _in_flight_counts(cursor)
        cursor.execute(
            """
            WITH RECURSIVE keys(k) AS (
              (SELECT queue_key FROM engine_queueitem
                WHERE lease_owner IS NULL AND available_at <= %(now)s ORDER BY queue_key LIMIT 1)
              UNION ALL
              SELECT (SELECT queue_key FROM engine_queueitem
                       WHERE lease_owner IS NULL AND available_at <= %(now)s AND queue_key > keys.k
                       ORDER BY queue_key LIMIT 1)
                FROM keys WHERE keys.k IS NOT NULL
            ), turns AS (
              SELECT keys.k, row_number() OVER (ORDER BY kq.last_served_at NULLS FIRST, keys.k) AS turn
                FROM keys LEFT JOIN engine_keyqueue kq ON kq.key = keys.k
               WHERE keys.k IS NOT NULL
            ), visit AS (
              SELECT k, turn FROM turns WHERE turn <= %(window)s
            )
            SELECT c.id, c.queue_key, c.key1, c.limit1, c.key2, c.limit2, c.run_id, c.step_id, c.attempt,
                   c.max_attempts
              FROM visit
              CROSS JOIN LATERAL (
                SELECT * FROM engine_queueitem i
                 WHERE i.queue_key = visit.k AND i.lease_owner IS NULL AND i.available_at <= %(now)s
                 ORDER BY i.priority, i.available_at, i.id
                 LIMIT %(capacity)s
                 FOR UPDATE SKIP LOCKED
              ) c
             ORDER BY visit.turn, c.priority, c.available_at, c.id
            """,
            {"now": now, "capacity": max(capacity, 1), "window": (capacity + spare) * KEYS_PER_SLOT},
        )
        candidates: dict[str, deque[tuple]] = {}
        for row in cursor.fetchall():
            candidates.setdefault(row[1], deque()).append(row)
        chosen, blocked = _choose_fairly(list(candidates), candidates, in_flight, capacity)
        spares = _choose_spares(list(candidates), candidates, in_flight, busy_queues, chosen, spare)
        chosen += spares
        # Served keys go to the back of the round in the order served; keys that were visited but had to wait for
        # a concurrency slot follow them, so a long line of blocked keys can never keep the others from a turn.
        visited = list(dict.fromkeys([*(row[1] for row in chosen), *blocked]))
        if visited:
            cursor.execute(
                """
                INSERT INTO engine_keyqueue (key, last_served_at)
                SELECT k, %s + (n * interval '1 microsecond') FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, n)
                ON CONFLICT (key) DO UPDATE SET last_served_at = EXCLUDED.last_served_at
                """,
                [now, visited],
            )
        if not chosen:
            return []
        cursor.execute(
            """
            WITH claimed AS (
              UPDATE engine_queueitem SET lease_owner = %s, lease_expires_at = %s WHERE id = ANY(%s) RETURNING run_id
            )
            UPDATE engine_run SET status = 'running', started_at = %s
             WHERE id IN (SELECT run_id FROM claimed) AND status = 'queued'
            """,
            [owner, now + timedelta(seconds=lease_seconds), [row[0] for row in chosen], now],
        )
    spare_ids = {row[0] for row in spares}
    return [
        ClaimedItem(id=r[0], run_pk=r[6], step_id=r[7], attempt=r[8], max_attempts=r[9], spare=r[0] in spare_ids)
        for r in chosen
    ]


def queue_reap_expired() -> int:
    """Make items whose lease ran out (their dispatcher died or hung) ready again; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE engine_queueitem SET lease_owner = NULL, lease_expires_at = NULL"
            " WHERE lease_owner IS NOT NULL AND lease_expires_at < %s RETURNING id",
            [timezone.now()],
        )
        expired = [row[0] for row in cursor.fetchall()]
    if expired:
        logger.warning("leases expired; items requeued", extra={"items": expired})
    return len(expired)


def _in_flight_counts(cursor: Any) -> tuple[Counter[str], Counter[str]]:
    """Requests in flight per concurrency key (for limits) and per key queue (for the spare slot)."""
    cursor.execute(
        """
        SELECT 'c', k, count(*) FROM (
          SELECT key1 AS k FROM engine_queueitem WHERE lease_owner IS NOT NULL AND key1 <> ''
          UNION ALL
          SELECT key2 FROM engine_queueitem WHERE lease_owner IS NOT NULL AND key2 <> ''
        ) s GROUP BY k
        UNION ALL
        SELECT 'q', queue_key, count(*) FROM engine_queueitem WHERE lease_owner IS NOT NULL GROUP BY queue_key
        """
    )
    by_key: Counter[str] = Counter()
    by_queue: Counter[str] = Counter()
    for kind, key, count in cursor.fetchall():
        (by_key if kind == "c" else by_queue)[key] = count
    return by_key, by_queue


def _choose_spares(
    keys: list[str],
    candidates: dict[str, deque[tuple]],
    in_flight: Counter[str],
    busy_queues: Counter[str],
    chosen: list[tuple],
    spare: int,
) -> list[tuple]:
    """Heads of key queues that have nothing in flight (and got nothing in this claim), in turn order."""
    taken = {row[1] for row in chosen}
    spares: list[tuple] = []
    for key in keys:
        if len(spares) >= spare:
            break
        if busy_queues[key] or key in taken or not candidates[key]:
            continue
        _, _, key1, limit1, key2, limit2 = candidates[key][0][:6]
        if (key1 and in_flight[key1] >= limit1) or (key2 and in_flight[key2] >= limit2):
            continue
        spares.append(candidates[key].popleft())
    return spares


def _choose_fairly(
    keys: list[str], candidates: dict[str, deque[tuple]], in_flight: Counter[str], capacity: int
) -> tuple[list[tuple], list[str]]:
    """Round-robin over the keys in turn order, one item per key per round; returns (chosen, blocked keys)."""
    chosen: list[tuple] = []
    blocked: list[str] = []
    active = list(keys)
    while active and len(chosen) < capacity:
        still_active = []
        for key in active:
            if len(chosen) >= capacity:
                break
            queue = candidates[key]
            _, _, key1, limit1, key2, limit2 = queue[0][:6]
            if (key1 and in_flight[key1] >= limit1) or (key2 and in_flight[key2] >= limit2):
                blocked.append(key)  # waits for a free slot; the rest of its queue must not overtake its head
                continue
            chosen.append(queue.popleft())
            if key1:
                in_flight[key1] += 1
            if key2:
                in_flight[key2] += 1
            if queue:
                still_active.append(key)
        active = still_active
    return chosen, blocked


def queue_renew(*, held: dict[int, str], lease_seconds: float) -> list[int]:
    """Extend the leases held, each under its claim's token (a heartbeat); returns the item ids still held."""
    if not held:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE engine_queueitem i SET lease_expires_at = %s FROM unnest(%s::bigint[], %s::text[]) AS h(id, token)"
            " WHERE i.id = h.id AND i.lease_owner = h.token RETURNING i.id",
            [timezone.now() + timedelta(seconds=lease_seconds), list(held), list(held.values())],
        )
        return [row[0] for row in cursor.fetchall()]


def queue_release(*, held: dict[int, str]) -> int:
    """Give back leases without an answer (a dispatcher stopping): the items are ready again at once."""
    if not held:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE engine_queueitem i SET lease_owner = NULL, lease_expires_at = NULL"
            " FROM unnest(%s::bigint[], %s::text[]) AS h(id, token) WHERE i.id = h.id AND i.lease_owner = h.token",
            [list(held), list(held.values())],
        )
        return cursor.rowcount


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
                      FROM engine_stepmemo m WHERE m.run_id = r.id)
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
    ) = row
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
