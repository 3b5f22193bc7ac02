"""Deciding whether, and when, a triggered run starts: rate limit and idempotency, singleton, priority.

`admit` is called by `services.intake.runs_start` inside its transaction, before the runs are created;
`Admission.finish` after. Each start is decided in the order Inngest's executor decides it
(pkg/execution/executor/executor.go `schedule`): the rate limit (idempotency is one) first, then the singleton,
then the queue position (priority). A start that is kept from running is stored as a SkippedRun and logged, saying
why. Throttle is no start gate: it is taken when the run's first request is claimed (throttle.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from . import expressions, gate_config, hooks
from .clock import scaled
from .gate_config import PRIORITY_MAX, PRIORITY_MIN, Gates
from .gate_models import RunSingleton, SkippedRun
from .gcra_keys import gcra_lock, gcra_store, key_bounded, key_hash, ns, ns_of
from .models import Event, Function, Run
from .queries import statement
from .services.endings import RunAlreadyFinished, run_cancel

logger = logging.getLogger(__name__)

_SINGLETON_LOCK_SQL = statement("singleton_lock")
_SINGLETON_HOLDERS_SQL = statement("singleton_holders")
_GCRA_PRUNE_SQL = statement("gcra_prune")


def _clock(now: datetime) -> datetime:
    """The time flow control reads: the caller's `now` (a test shifts it to step past a period without waiting)."""
    return now


@dataclass
class Admission:
    """The starts that go ahead, each with the time its first step becomes ready and its priority factor."""

    now: datetime
    starts: list[tuple[Function, Event, datetime, int]] = field(default_factory=list)
    singleton_keys: list[str | None] = field(default_factory=list)
    cancel_after_create: set[int] = field(default_factory=set)  # indexes into `starts` (same-batch singletons)

    def finish(self, runs: list[Run]) -> None:
        """Record the singleton keys the new runs hold; cancel those a later start of the same batch replaced."""
        held = [RunSingleton(run=run, key=key) for run, key in zip(runs, self.singleton_keys, strict=True) if key]
        if held:
            RunSingleton.objects.bulk_create(held)
        for index in sorted(self.cancel_after_create):
            _cancel(runs[index].run_id, reason="singleton: replaced by a newer run")


@hooks.admission
def admit(starts: list[tuple[Function, Event]], *, now: datetime, rerun: bool = False) -> Admission:
    """`rerun`: the starts are reruns (jobs/engine/rerun.py), which pass the rate limit and idempotency."""
    admission = Admission(now=now)
    pending: dict[str, int] = {}  # singleton key -> index of the start in this batch holding it
    for function, event in starts:
        gates = gate_config.gates_of(function.config)
        if gates is None:
            admission.starts.append((function, event, now, 0))
            admission.singleton_keys.append(None)
            continue
        activation = {"event": event.to_inngest()}
        skipped = None if rerun else _rate_limit(function, gates, activation, now=now)
        singleton_key = None
        if skipped is None and gates.singleton_mode:
            singleton_key = _singleton_key(function, gates, activation)
            if singleton_key is not None:
                skipped = _singleton(gates.singleton_mode, singleton_key, pending, admission)
        if skipped is not None:
            _skip(function, event, *skipped, now=now)
            continue
        if singleton_key is not None:
            pending[singleton_key] = len(admission.starts)
        factor = priority_factor(gates.priority_run, activation) if gates.priority_run else 0
        # Throttle is no start gate: it is taken when the run's first request is claimed (throttle.py).
        admission.starts.append((function, event, now, factor))
        admission.singleton_keys.append(singleton_key)
    return admission


# --- Rate limit and idempotency -------------------------------------------------------------------------


def _rate_limit(function: Function, gates: Gates, activation: dict, *, now: datetime) -> tuple[str, str] | None:
    """(reason, detail) when the rate limit (or idempotency key) keeps this run from starting.

    pkg/execution/ratelimit/ratelimit.go `RateLimitKey`: no key means the function's; a key that evaluates to
    false is not rate limited; one that cannot be evaluated fails the schedule (no run).
    """
    limit = gates.rate_limit
    if limit is None:
        return None
    reason = SkippedRun.Reason.IDEMPOTENCY if gates.idempotent else SkippedRun.Reason.RATE_LIMIT
    key = f"r:{function.slug}"
    if limit.key:
        try:
            value = _key_value(limit.key, activation)
        except expressions.ExpressionError as error:
            return reason, f"key could not be evaluated: {error}"
        if value is False:
            return None
        key = f"{key}:{key_hash(value)}"
    key = key_bounded(key)
    now_ns = ns(_clock(now))
    with connection.cursor() as cursor:
        tat = gcra_lock(cursor, key)
        new_tat = gcra_rate_limit(tat, now_ns, ns_of(scaled(limit.period)), limit.limit, limit.burst)
        if new_tat is None:
            what = (
                "idempotency key already used"
                if gates.idempotent
                else f"over {limit.limit} per {limit.period.total_seconds():g}s"
            )
            return reason, f"{what} (key {key})"
        gcra_store(cursor, key, new_tat)
    return None


def gcra_rate_limit(tat: int | None, now: int, period: int, limit: int, burst: int) -> int | None:
    """The key's new TAT if one more request is admitted now, else None (nanoseconds).

    pkg/execution/ratelimit/lua/ratelimit.lua: capacity first (`gcraCapacity`, the remaining count at `now`),
    then the update (`gcraUpdate` with quantity 1), which moves the TAT on by one emission interval.
    """
    emission = period // max(limit, 1)  # whole nanoseconds: epoch nanoseconds are beyond a float's precision
    dvt = emission * (burst + 1)
    tat = now if tat is None else tat
    ttl = tat - now
    following = dvt - ttl
    remaining = following // emission if following > -emission else 0
    if remaining <= 0:
        return None
    new_tat = max(now, tat) + emission
    if now - (new_tat - dvt) < 0:
        return None
    return new_tat


# --- Singleton ------------------------------------------------------------------------------------------


def _singleton_key(function: Function, gates: Gates, activation: dict) -> str | None:
    """pkg/execution/singleton/singleton.go `SingletonKey`: the function's own key without an expression; an
    expression that is false means no singleton, and one that cannot be evaluated is ignored (executor.go)."""
    if not gates.singleton_key:
        return key_bounded(f"s:{function.slug}")
    try:
        value = _key_value(gates.singleton_key, activation)
    except expressions.ExpressionError:
        logger.warning("singleton key could not be evaluated; run starts normally", extra={"fn": function.slug})
        return None
    if value is False:
        return None
    return key_bounded(f"s:{function.slug}:{key_hash(value)}")


def _singleton(mode: str, key: str, pending: dict[str, int], admission: Admission) -> tuple[str, str] | None:
    """Skip mode: a run holding the key (queued or running) keeps this one from starting. Cancel mode: the
    holder is cancelled and this one starts (executor.go `schedule`, singleton.go `singleton`)."""
    with connection.cursor() as cursor:
        # Two intakes at once must see each other's holder: one at a time per key, until the transaction ends.
        cursor.execute(_SINGLETON_LOCK_SQL, [key])
        cursor.execute(_SINGLETON_HOLDERS_SQL, [key])
        holders = [row[0] for row in cursor.fetchall()]
    in_batch = pending.get(key)
    if mode == "skip":
        holder = holders[0] if holders else (None if in_batch is None else "an earlier event of the same send")
        return None if holder is None else (SkippedRun.Reason.SINGLETON, f"run {holder} holds key {key}")
    for run_id in holders:
        _cancel(run_id, reason="singleton: replaced by a newer run")
    if in_batch is not None:
        admission.cancel_after_create.add(in_batch)
    return None


def _cancel(run_id: str, *, reason: str) -> None:
    try:
        run_cancel(run_id=run_id, reason=reason)
    except RunAlreadyFinished:
        pass


# --- Queue position: priority ---------------------------------------------------------------------------


def priority_factor(expression: str, activation: dict) -> int:
    """pkg/inngest/function.go `RunPriorityFactor`: an int, clamped; anything else (or an error) is 0.

    pkg/execution/queue/enqueue.go shifts every queue item of the run by the factor (`qi.AtMS -= factor`, after
    its due time is taken): ahead of items due up to that many seconds before it in the same queue, or behind
    younger ones for a negative factor, never due earlier or later. The run's items keep the factor
    (`QueueItem.factor`) and claims order each key queue by `order_at` (services/claims.py), so it acts within each
    concurrency key.
    """
    try:
        value = expressions.evaluate(expression, activation)
    except expressions.ExpressionError:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, PRIORITY_MIN), PRIORITY_MAX)


# --- GCRA state and helpers -----------------------------------------------------------------------------


@hooks.tick(order=40)
def gcra_prune(*, now: datetime | None = None) -> int:
    """Drop keys whose TAT has passed: a missing key behaves exactly like one (ratelimit.lua starts it at now)."""
    with connection.cursor() as cursor:
        cursor.execute(_GCRA_PRUNE_SQL, [ns(_clock(now or timezone.now()))])
        return cursor.rowcount


def _skip(function: Function, event: Event, reason: str, detail: str, *, now: datetime) -> None:
    SkippedRun.objects.create(function=function, event=event, reason=reason, detail=detail[:2000], created_at=now)
    logger.info(
        "run skipped",
        extra={"fn": function.slug, "event_id": event.internal_id, "reason": reason, "detail": detail},
    )


def _key_value(expression: str, activation: dict) -> Any:
    """A rate-limit or singleton key's value. A field the event lacks is null, not an error: Inngest evaluates
    unknowns "as values similar to null" (pkg/expressions/cel.go `eval`), so such events share one key. Any other
    evaluation error (a type error) is raised."""
    try:
        return expressions.evaluate(expression, activation)
    except expressions.ExpressionError as error:
        if ": KeyError:" in str(error):  # the cel library's missing field or key
            return None
        raise


@hooks.config_check(order=40)
def gates_config_check(config: dict[str, Any]) -> None:
    """Idempotency, rate limit, throttle, singleton, priority and timeouts, checked at sync (hooks.config_check)."""
    gate_config.check(config)
