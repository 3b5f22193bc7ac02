"""Per-connection rate limits shared by every process: GCRA in PostgreSQL, one atomic statement per call.

GCRA (the generic cell rate algorithm) keeps one number per limit, the theoretical arrival time (TAT). A call is
allowed when TAT - tolerance <= now, and then moves TAT on by one emission interval. The statement below does
the decision and the reservation at once under the row lock, using the database clock, so several web workers
and dispatchers never exceed the rate together. A call that would have to wait longer than `max_wait` reserves
nothing and is told how long to wait instead, so a bulk sync slows down (the job retries later) rather than
tying up a worker or getting the agency's key blocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection as db
from django.db import transaction

from .models import CrmRateLimitBucket

TABLE = CrmRateLimitBucket._meta.db_table


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` calls per `per_seconds`, with up to `burst` calls back to back."""

    requests: int
    per_seconds: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return self.per_seconds / self.requests

    @property
    def tolerance(self) -> float:
        return self.interval * (self.burst - 1)


class RateLimitExceeded(Exception):
    """The limit cannot admit the call within the allowed wait."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limit reached; retry in {retry_after:.1f}s")


# The limiter's clock: the database's (one clock for every process), unless a caller passes `now` (tests).
_CLOCK = "WITH clock AS (SELECT COALESCE(%(now)s::double precision, extract(epoch FROM clock_timestamp())) AS now)"

_ACQUIRE = f"""
{_CLOCK}
INSERT INTO {TABLE} AS bucket (key, theoretical_arrival, updated_at)
SELECT %(key)s, clock.now + %(interval)s, now() FROM clock
ON CONFLICT (key) DO UPDATE
SET theoretical_arrival = GREATEST(bucket.theoretical_arrival, (SELECT now FROM clock)) + %(interval)s,
    updated_at = now()
WHERE GREATEST(bucket.theoretical_arrival, (SELECT now FROM clock))
      - (SELECT now FROM clock) - %(tolerance)s <= %(max_wait)s
RETURNING bucket.theoretical_arrival - %(interval)s - %(tolerance)s - (SELECT now FROM clock), (SELECT now FROM clock)
"""  # noqa: S608 - the table name is our own constant; every value is a parameter

_WAIT_NEEDED = f"""
{_CLOCK}
SELECT theoretical_arrival - %(interval)s - %(tolerance)s - clock.now
FROM {TABLE}, clock WHERE key = %(key)s
"""  # noqa: S608

_PENALISE = f"""
{_CLOCK}
INSERT INTO {TABLE} AS bucket (key, theoretical_arrival, updated_at)
SELECT %(key)s, clock.now + %(until)s, now() FROM clock
ON CONFLICT (key) DO UPDATE
SET theoretical_arrival = GREATEST(bucket.theoretical_arrival, EXCLUDED.theoretical_arrival), updated_at = now()
"""  # noqa: S608


@dataclass(frozen=True)
class Admission:
    """One call let through: how long the caller waits first, and the moment it is admitted on the limiter's
    clock (epoch seconds). Consecutive admissions of one limit are at least its interval apart, past the burst."""

    wait: float
    at: float


@contextmanager
def _without_waiting_for_disk() -> Iterator[None]:
    """Commit the bucket update without waiting for the WAL flush (`synchronous_commit = off`).

    Bucket state is not worth an fsync per CRM call: a crash loses at most the last few reservations, which
    only makes the limiter briefly more generous than it should be, never stuck. Inside a caller's transaction
    nothing is changed (the setting would apply to the caller's whole transaction).
    """
    if db.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with db.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def rate_limit_admit(*, key: str, limit: RateLimit, max_wait: float, now: float | None = None) -> Admission:
    """Reserve a slot for one call: when it is admitted, and how many seconds to wait for that (0: go now).

    Raises RateLimitExceeded (reserving nothing) when the wait would be longer than `max_wait`. `now` (epoch
    seconds) replaces the database clock, for tests that must not depend on how fast the machine is.
    """
    params = {"key": key, "interval": limit.interval, "tolerance": limit.tolerance, "max_wait": max_wait, "now": now}
    with _without_waiting_for_disk(), db.cursor() as cursor:
        cursor.execute(_ACQUIRE, params)
        row = cursor.fetchone()
        if row is not None:
            wait = max(0.0, float(row[0]))
            return Admission(wait=wait, at=float(row[1]) + wait)
        cursor.execute(_WAIT_NEEDED, params)
        waiting = cursor.fetchone()
    return_after = max(limit.interval, float(waiting[0]) if waiting else limit.interval)
    raise RateLimitExceeded(retry_after=return_after)


def rate_limit_reserve(*, key: str, limit: RateLimit, max_wait: float, now: float | None = None) -> float:
    """Reserve a slot for one call; returns how many seconds to wait before making it (0 when it may go now)."""
    return rate_limit_admit(key=key, limit=limit, max_wait=max_wait, now=now).wait


def rate_limit_pause(*, key: str, limit: RateLimit, seconds: float, now: float | None = None) -> None:
    """Make every process wait `seconds` before the next call (the CRM said 429: do not hammer it)."""
    with _without_waiting_for_disk(), db.cursor() as cursor:
        cursor.execute(_PENALISE, {"key": key, "until": seconds + limit.tolerance, "now": now})


def max_wait_seconds() -> float:
    """How long one call may sleep for its slot before giving up with a retry-after (CRM_RATE_LIMIT_MAX_WAIT)."""
    return float(settings.CRM_RATE_LIMIT_MAX_WAIT)


def configured_limit(provider: str, name: str, default: RateLimit) -> RateLimit:
    """The documented default, unless settings.CRM_RATE_LIMITS["<provider>.<name>"] overrides it."""
    override = settings.CRM_RATE_LIMITS.get(f"{provider}.{name}")
    if not override:
        return default
    return RateLimit(
        requests=int(override.get("requests", default.requests)),
        per_seconds=float(override.get("per_seconds", default.per_seconds)),
        burst=int(override.get("burst", default.burst)),
    )
