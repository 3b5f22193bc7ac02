"""Claiming queue items: fairly across key queues, within every concurrency limit, under a renewable lease.

One claimer at a time (an advisory lock) computes the in-flight counts, so limits hold across dispatchers.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# One claimer at a time computes in-flight counts and hands out slots, so limits hold across dispatchers.
CLAIM_LOCK_ID = 0x1A6E57  # an arbitrary constant for pg_try_advisory_xact_lock
# A claim looks at the least recently served key queues only, this many per free slot (bounds the claim's cost).
KEYS_PER_SLOT = 2


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
                 ORDER BY i.priority, i.order_at, i.id
                 LIMIT %(capacity)s
                 FOR UPDATE SKIP LOCKED
              ) c
             ORDER BY visit.turn, c.priority, c.order_at, c.id
            """,
            {"now": now, "capacity": max(capacity, 1), "window": (capacity + spare) * KEYS_PER_SLOT},
        )
        candidates: dict[str, deque[tuple]] = {}
        for row in cursor.fetchall():
            candidates.setdefault(row[1], deque()).append(row)
        if not candidates:
            return []  # nothing ready: no need to count what is in flight
        in_flight, busy_queues = _in_flight_counts(cursor)
        chosen, blocked = _choose_fairly(list(candidates), candidates, in_flight, capacity)
        spares = _choose_spares(list(candidates), candidates, in_flight, busy_queues, chosen, spare)
        chosen += spares
        # Served keys go to the back of the round in the order served; keys that were visited but had to wait for
        # a concurrency slot follow them, so a long line of blocked keys can never keep the others from a turn.
        visited = list(dict.fromkeys([*(row[1] for row in chosen), *blocked]))
        if not visited:
            return []
        # One statement (one round trip): the key queues' turns, the leases, and the runs that start.
        cursor.execute(
            """
            WITH served AS (
              INSERT INTO engine_keyqueue (key, last_served_at)
              SELECT k, %(now)s + (n * interval '1 microsecond')
                FROM unnest(%(visited)s::text[]) WITH ORDINALITY AS t(k, n)
              ON CONFLICT (key) DO UPDATE SET last_served_at = EXCLUDED.last_served_at
            ), claimed AS (
              UPDATE engine_queueitem SET lease_owner = %(owner)s, lease_expires_at = %(expires)s
               WHERE id = ANY(%(ids)s) RETURNING run_id
            )
            UPDATE engine_run SET status = 'running', started_at = %(now)s
             WHERE id IN (SELECT run_id FROM claimed) AND status = 'queued'
            """,
            {
                "now": now,
                "visited": visited,
                "owner": owner,
                "expires": now + timedelta(seconds=lease_seconds),
                "ids": [row[0] for row in chosen],
            },
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
