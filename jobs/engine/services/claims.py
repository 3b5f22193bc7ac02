"""Claiming queue items: fairly across key queues, within every concurrency limit, under a renewable lease.

One claimer at a time (an advisory lock) computes the in-flight counts, so limits hold across dispatchers. The
claim's transaction may sit idle for a second or two at most (`claim_idle_limit_ms`): a claimer frozen inside it
(SIGSTOP, a paused VM) has its session ended by PostgreSQL, which frees the lock, instead of holding up every other
dispatcher's claims until its lease would have run out.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from .. import hooks
from ..models import QueueItem
from ..queries import fetch_rows, statement
from .intake import work_notify

logger = logging.getLogger(__name__)

# One claimer at a time computes in-flight counts and hands out slots, so limits hold across dispatchers.
CLAIM_LOCK_ID = 0x1A6E57  # an arbitrary constant for pg_try_advisory_xact_lock
# A claim looks at the least recently served key queues only, this many per free slot (bounds the claim's cost).
KEYS_PER_SLOT = 2
# How long a claim's transaction may stay idle between its statements: a tenth of the lease, within 1-2 s. A claim
# is a few milliseconds of Python between three statements; a session ended here only rolls its claim back.
CLAIM_IDLE_LIMIT_SECONDS = (1.0, 2.0)


def claim_idle_limit_ms(lease_seconds: float) -> int:
    low, high = CLAIM_IDLE_LIMIT_SECONDS
    return int(min(max(lease_seconds / 10, low), high) * 1000)


_CLAIM_LOCK_SQL = statement("claim_lock")
_CANDIDATES_SQL = statement("claim_candidates")
_TAKE_SQL = statement("claim_take")
_REAP_SQL = statement("leases_reap")
_RENEW_SQL = statement("leases_renew")
_RELEASE_SQL = statement("leases_release")


class Claimed(list):
    """The items a claim leased; `busy` when another claimer held the claim lock, so this one looked at nothing
    (the dispatcher tries again soon instead of sleeping until its next timer or notification)."""

    busy: bool = False


@dataclass
class ClaimedItem:
    id: int
    run_pk: int
    step_id: str
    attempt: int
    max_attempts: int
    generation: int = 0  # which request of the item this claim is for (fence.py)
    spare: bool = False  # claimed for the spare worker (a key queue with nothing in flight)


class _Candidate(NamedTuple):
    """A ready item that claim_candidates offers, with what its concurrency limits need."""

    id: int
    queue_key: str
    key1: str
    limit1: int
    key2: str
    limit2: int
    run_id: int
    step_id: str
    attempt: int
    max_attempts: int
    generation: int
    gated: bool  # a throttled function's first request: the claim gate decides whether it waits
    leased: list[list[Any]] | None  # on one row only: the requests in flight (see `_in_flight_counts`)

    def fits(self, in_flight: Counter[str]) -> bool:
        """Whether one more request in flight stays within both of its concurrency limits."""
        return not (
            (self.key1 and in_flight[self.key1] >= self.limit1) or (self.key2 and in_flight[self.key2] >= self.limit2)
        )


def queue_claim(*, owner: str, capacity: int, lease_seconds: float, spare: int = 0) -> Claimed:
    """Lease up to `capacity` ready items, fairly across key queues and within every concurrency limit.

    Key queues with ready work are visited least-recently-served first (at most KEYS_PER_SLOT per free slot) and
    one item is taken from each per round, so a key with a backlog of thousands delays another key's work by at
    most one round. Within a key the order is continuing runs first, then by time: FIFO per key. A key queue whose
    own concurrency key is at its limit is not visited (nothing of it is locked, and it keeps its turn for when a
    slot frees); the limit is the largest its leased items carry, so a limit raised since they started applies
    from their first slot that frees. A key whose head does not fit another of its limits is skipped whole (no
    overtaking inside a key) and loses its turn.

    `spare` slots go only to key queues with nothing in flight anywhere: with every worker busy on one tenant's
    backlog, another tenant's run still starts at once instead of waiting for a worker to free up.
    """
    if capacity <= 0 and spare <= 0:
        return Claimed()
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # One claimer at a time (others skip this tick): in-flight counts stay exact across dispatchers.
        cursor.execute(_CLAIM_LOCK_SQL, [CLAIM_LOCK_ID, str(claim_idle_limit_ms(lease_seconds))])
        if not cursor.fetchone()[0]:
            busy = Claimed()
            busy.busy = True
            return busy
        cursor.execute(
            _CANDIDATES_SQL,
            {
                "now": now,
                "capacity": max(capacity, 1),
                "window": (capacity + spare) * KEYS_PER_SLOT,
                "first_step": QueueItem.DISCOVERY,
            },
        )
        rows = fetch_rows(cursor, _Candidate)
        if not rows:
            return Claimed()
        in_flight, busy_queues = _in_flight_counts(next((row.leased for row in rows if row.leased is not None), []))
        candidates: dict[str, deque[_Candidate]] = {}
        for candidate in rows:
            candidates.setdefault(candidate.queue_key, deque()).append(candidate)
        chosen, blocked = _choose_fairly(list(candidates), candidates, in_flight, capacity)
        spares = _choose_spares(list(candidates), candidates, in_flight, busy_queues, chosen, spare)
        chosen += spares
        # A run's first request also needs its function's throttle slot, taken only now that it fits its
        # concurrency limits (as Inngest takes it); one without a slot waits for it, unleased (throttle.py, through
        # hooks.claim_gate). Only `gated` candidates can be held: a claim that chose none sends the gate nothing.
        throttled = hooks.claim_held(cursor, [candidate.id for candidate in chosen if candidate.gated], now=now)
        if throttled:
            chosen = [candidate for candidate in chosen if candidate.id not in throttled]
            spares = [candidate for candidate in spares if candidate.id not in throttled]
        # Served keys go to the back of the round in the order served; keys that were visited but had to wait for
        # a concurrency slot follow them, so a long line of blocked keys can never keep the others from a turn.
        visited = list(dict.fromkeys([*(candidate.queue_key for candidate in chosen), *blocked]))
        if not visited:
            return Claimed()
        # One statement (one round trip): the key queues' turns, the leases, and the runs that start.
        cursor.execute(
            _TAKE_SQL,
            {
                "now": now,
                "visited": visited,
                "owner": owner,
                "expires": now + timedelta(seconds=lease_seconds),
                "ids": [candidate.id for candidate in chosen],
            },
        )
    spare_ids = {candidate.id for candidate in spares}
    return Claimed(
        ClaimedItem(
            id=c.id,
            run_pk=c.run_id,
            step_id=c.step_id,
            attempt=c.attempt,
            max_attempts=c.max_attempts,
            generation=c.generation,
            spare=c.id in spare_ids,
        )
        for c in chosen
    )


def queue_reap_expired() -> int:
    """Make items whose lease ran out (their dispatcher died or hung) ready again; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(_REAP_SQL, [timezone.now()])
        expired = [row[0] for row in cursor.fetchall()]
    if expired:
        logger.warning("leases expired; items requeued", extra={"items": expired})
    return len(expired)


def _in_flight_counts(leased: list[list[Any]]) -> tuple[Counter[str], Counter[str]]:
    """Requests in flight per concurrency key (for limits) and per key queue (for the spare slot), from
    claim_candidates' `leased` rows: [kind ('c' a concurrency key, 'q' a key queue), key, in flight]."""
    by_key: Counter[str] = Counter()
    by_queue: Counter[str] = Counter()
    for kind, key, count in leased:
        (by_key if kind == "c" else by_queue)[key] = count
    return by_key, by_queue


def _choose_spares(
    keys: list[str],
    candidates: dict[str, deque[_Candidate]],
    in_flight: Counter[str],
    busy_queues: Counter[str],
    chosen: list[_Candidate],
    spare: int,
) -> list[_Candidate]:
    """Heads of key queues that have nothing in flight (and got nothing in this claim), in turn order."""
    taken = {candidate.queue_key for candidate in chosen}
    spares: list[_Candidate] = []
    for key in keys:
        if len(spares) >= spare:
            break
        if busy_queues[key] or key in taken or not candidates[key]:
            continue
        if not candidates[key][0].fits(in_flight):
            continue
        spares.append(candidates[key].popleft())
    return spares


def _choose_fairly(
    keys: list[str], candidates: dict[str, deque[_Candidate]], in_flight: Counter[str], capacity: int
) -> tuple[list[_Candidate], list[str]]:
    """Round-robin over the keys in turn order, one item per key per round; returns (chosen, blocked keys)."""
    chosen: list[_Candidate] = []
    blocked: list[str] = []
    active = list(keys)
    while active and len(chosen) < capacity:
        still_active = []
        for key in active:
            if len(chosen) >= capacity:
                break
            queue = candidates[key]
            if not queue[0].fits(in_flight):
                blocked.append(key)  # waits for a free slot; the rest of its queue must not overtake its head
                continue
            head = queue.popleft()
            chosen.append(head)
            if head.key1:
                in_flight[head.key1] += 1
            if head.key2:
                in_flight[head.key2] += 1
            if queue:
                still_active.append(key)
        active = still_active
    return chosen, blocked


def queue_renew(*, held: dict[int, str], lease_seconds: float) -> list[int]:
    """Extend the leases held, each under its claim's token (a heartbeat); returns the item ids still held."""
    if not held:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_RENEW_SQL, [timezone.now() + timedelta(seconds=lease_seconds), list(held), list(held.values())])
        return [row[0] for row in cursor.fetchall()]


def queue_release(*, held: dict[int, str]) -> int:
    """Give back leases without an answer (a dispatcher stopping): the items are ready again at once, and the
    other dispatchers are told (NOTIFY), since no timer of theirs says so. An item an answer being stored holds
    locked is skipped (queries.sql leases_release); returns how many were given back."""
    if not held:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, [list(held), list(held.values())])
        released = cursor.rowcount
    if released:
        work_notify()
    return released
