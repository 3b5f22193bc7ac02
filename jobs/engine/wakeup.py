"""When the dispatcher's claim loop looks for work: when something is due, or when it is told, never on a tick.

Every timer the engine keeps is a time in a table: a sleep, a retry, a wait's timeout, a throttled or future start
(a queue item's `available_at`), a debounce or batch (`fire_at`, `timeout_at`), a cron trigger (`next_fire_at`), a
lease running out, a run's start or finish timeout (timeouts.py). `Timers` reads the earliest of them in one
statement (queries.sql `timers_next_due`, each part through an index) and the loop sleeps until then. It is one
central statement, not a part registered by each feature, because it is one round trip per refresh and one plan
to read with EXPLAIN; each feature still owns its table, its writes and its sweep (hooks.tick). New work wakes the
loop at once: the intake, the debounce and batch sweep, reruns, resumed pauses, a cancel (its run's concurrency
slots are free) and leases handed back NOTIFY on commit (`work_notify`), which `listen_for_work` turns into a wake,
and the dispatcher wakes itself after every request it finishes (an answer that schedules a sleep is read then).
`idle_limit` (ENGINE_POLL_INTERVAL) only bounds a sleep in case a notification is lost (a LISTEN connection being
re-established). The sweeps run when one of their times is due, and otherwise once every SWEEP_SAFETY_SECONDS (for
what no time in a table says, such as spent GCRA keys): never at every poll, since a sweep is several queries.
Before, sweeps ran once a second: a debounce, batch timeout or run timeout fired 0-1 s late.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import psycopg
from django.db import connection, connections
from django.utils import timezone

from . import hooks
from .clock import delay_scale
from .queries import statement
from .services.claims import queue_reap_expired

logger = logging.getLogger("jobs.engine.dispatch")

_NEXT_DUE_SQL = statement("timers_next_due")
_WORK_LISTEN_SQL = statement("work_listen")
# While the loop keeps claiming, the next sweep's time is read again at most this often (one small query).
BUSY_RECHECK_SECONDS = 0.1
# A sweep whose work stays due (it failed, or it is still being reaped) is retried no sooner than this.
MIN_SWEEP_SPACING_SECONDS = 0.01
# With nothing due, the sweeps still run this often (the old tick's period).
SWEEP_SAFETY_SECONDS = 1.0


class Timers:
    """The claim loop's clock: runs the sweeps when one is due and says how long the loop may sleep."""

    def __init__(self, *, idle_limit: float) -> None:
        self.idle_limit = idle_limit
        self._sweep_limit = max(idle_limit, SWEEP_SAFETY_SECONDS)
        self._next_sweep = 0.0  # time.monotonic() of the next sweep: at once, the first time
        self._next_item: float | None = None  # time.monotonic() of the next queue item due, None when none is
        self._read_at = float("-inf")
        self._last_sweep = float("-inf")

    def sweep_if_due(self) -> bool:
        """Reap expired leases, fire due crons, debounces and batches, cancel timed-out runs, when one is due."""
        if time.monotonic() < self._next_sweep:
            return False
        queue_reap_expired()
        for sweep in hooks.ticks():  # cron, due debounces and batches, run timeouts, spent GCRA keys (hooks.tick)
            sweep()
        self._read_at = float("-inf")  # what is due next has changed
        self._last_sweep = time.monotonic()
        self._next_sweep = self._last_sweep + MIN_SWEEP_SPACING_SECONDS
        return True

    def refresh(self, *, busy: bool, since: datetime | None = None) -> None:
        """Read when the next item and the next sweep are due (while busy, at most every BUSY_RECHECK_SECONDS).

        `since` is a time read before the last claim looked: an item due after it was not due to that claim, so it
        counts as coming even when it is due by now (it fell due while the claim ran, and the loop must not sleep
        past it). An item due before it was due to the claim and was left unleased for a reason of its own (a full
        concurrency key, a throttle): freeing those wakes the loop, so they are not a timer.
        """
        if busy and time.monotonic() - self._read_at < BUSY_RECHECK_SECONDS:
            return
        now, mono = timezone.now(), time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(_NEXT_DUE_SQL, {"now": now, "since": since or now, "scale": delay_scale()})
            item_at, sweep_at = cursor.fetchone()
        self._read_at = mono
        self._next_item = None if item_at is None else mono + _seconds_until(item_at, now)
        sweep = mono + self._sweep_limit if sweep_at is None else mono + _seconds_until(sweep_at, now)
        self._next_sweep = max(min(sweep, mono + self._sweep_limit), self._last_sweep + MIN_SWEEP_SPACING_SECONDS)

    def wait_seconds(self) -> float:
        """How long the loop may sleep: until the next item or sweep is due, at most `idle_limit`."""
        mono = time.monotonic()
        due = min(self._next_sweep, self._next_item if self._next_item is not None else float("inf"))
        return min(max(due - mono, 0.0), self.idle_limit)


def _seconds_until(moment: datetime, now: datetime) -> float:
    return max((moment - now).total_seconds(), 0.0)


def listen_for_work(stop: threading.Event, wake: threading.Event) -> None:
    """Set `wake` on every `work_notify` (PostgreSQL LISTEN) until `stop`; reconnects when the connection drops."""
    while not stop.is_set():
        try:
            params = connections["default"].get_connection_params()
            with psycopg.connect(**params, autocommit=True) as listener:
                listener.execute(_WORK_LISTEN_SQL)
                while not stop.is_set():
                    for _ in listener.notifies(timeout=1.0, stop_after=1):
                        wake.set()
        except psycopg.Error:
            logger.warning("LISTEN connection lost; waking every idle limit until it is back", exc_info=True)
            stop.wait(1)
