"""The dispatcher: syncs apps, claims due work from PostgreSQL and calls the serve endpoint over HTTP.

One thread claims (in batches, up to `max_in_flight` requests in flight), the step requests run as coroutines on
one asyncio loop (executor.py) with their database work on a small thread pool, and a heartbeat renews the
leases of requests in flight. Any number of dispatchers may run against one database; a dead one's leases run
out and its work is picked up by the others.

Each claim has its own lease token (the dispatcher's name and a claim number, stored as the item's
`lease_owner`): the request is built, and its answer applied, only under that token, so an answer to a claim
that was lost (its lease ran out and the item was claimed again) is refused. The dispatcher also checks, just
before sending, that the lease it holds has not run out by its own clock (a dispatcher frozen past its lease
sends nothing), and an item it claims again while its first request is still in flight is not sent twice: the
request in flight takes over the new token (for the same generation of the item only).

Every step request also carries its fence (fence.py): the serve endpoint refuses it before the step runs once
its claim or generation is stale (a request queued in the web server or left in a frozen process past its lease).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from . import hooks
from .answer_batch import AnswerCollector
from .app_sync import AppSync
from .executor import Lease, StepLoop
from .fence import Fence
from .heartbeat import BEAT_SECONDS, heartbeat_beat, heartbeat_forget
from .in_flight import InFlight
from .outcomes import DispatchRecord, Outcome, Result
from .services.answers import BatchedAnswer
from .services.call_request import call_request_build
from .services.claims import ClaimedItem, queue_claim, queue_release, queue_renew
from .step_call import StepCaller
from .wakeup import Timers, listen_for_work

logger = logging.getLogger("jobs.engine.dispatch")

CLAIM_GATHER_SECONDS = 0.002
# Another dispatcher held the claim lock (its claim takes milliseconds): look again this soon, not at the next timer.
CLAIM_BUSY_RETRY_SECONDS = 0.05
RESYNC_SECONDS = 30


class Dispatcher:
    """Runs the engine's queue until `stop()`; see the module docstring."""

    def __init__(
        self,
        *,
        app_urls: list[str] | None = None,
        workers: int | None = None,
        max_in_flight: int | None = None,
        lease_seconds: float | None = None,
        poll_interval: float | None = None,
        step_timeout: float | None = None,
        owner: str | None = None,
        on_dispatch: Callable[[DispatchRecord], None] | None = None,
        answer_batch: bool | None = None,
    ) -> None:
        self.app_urls = app_urls or list(settings.ENGINE_APP_URLS) or [settings.INNGEST_SERVE_URL]
        self.workers = workers or settings.ENGINE_WORKERS  # database threads beside the loop
        self.max_in_flight = max_in_flight or settings.ENGINE_MAX_IN_FLIGHT
        self.lease_seconds = lease_seconds or settings.ENGINE_LEASE_SECONDS
        self.poll_interval = poll_interval or settings.ENGINE_POLL_INTERVAL
        self.step_timeout = step_timeout or settings.ENGINE_STEP_TIMEOUT
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")[:80]
        self.on_dispatch = on_dispatch
        self.signing_key = "" if settings.INNGEST_DEV else settings.INNGEST_SIGNING_KEY
        self.server_kind = "dev" if settings.INNGEST_DEV else "cloud"
        self.fence = settings.ENGINE_FENCE  # step requests carry their claim's fence (fence.py)
        self._stop = threading.Event()
        self._draining = threading.Event()  # shutdown(): no more claims; leases in flight still renewed
        self._stopped = False  # stop() has run: a second call (a harness, a finally after shutdown) does nothing
        self._wake = threading.Event()
        self._claim_busy = False  # the last claim found the claim lock taken (queue_claim's `busy`)
        self._in_flight = InFlight(lease_seconds=self.lease_seconds)  # the leases held (in_flight.py)
        self._claims = itertools.count(1)
        self._lock = threading.Lock()  # guards `_stopped`
        self._threads: list[threading.Thread] = []
        self._steps = StepLoop(
            db_threads=self.workers, max_connections=self.max_in_flight + 2, timeout=self.step_timeout
        )
        self.answers = AnswerCollector(self._steps.db, enabled=answer_batch, at_once=self.workers // 2)
        self._caller = StepCaller(signing_key=self.signing_key, server_kind=self.server_kind)
        self._apps = AppSync(self.app_urls, signing_key=self.signing_key, server_kind=self.server_kind)

    # --- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the step loop, the heartbeat, LISTEN and sync threads and the claim loop in the background."""
        self._steps.start()
        self._spawn(self._heartbeat_loop, "engine-heartbeat")
        self._spawn(self._listen_loop, "engine-listen")
        self._spawn(self._sync_loop, "engine-sync")
        self._spawn(self.run_claim_loop, "engine-claims")
        self._spawn(self._beat_loop, "engine-beat")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=self._with_connection_cleanup(target), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    @staticmethod
    def _with_connection_cleanup(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            finally:
                connections.close_all()

        return run

    def stop(self, timeout: float = 30) -> None:
        """Stop claiming, let requests in flight finish (up to `timeout`); unfinished leases run out. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        self._steps.stop(max(deadline - time.monotonic(), 0.1))
        self.answers.log_summary()
        self._apps.close()
        try:
            heartbeat_forget(owner=self.owner)
        except Exception:  # the database may be what stopped us: the row then just goes stale
            logger.warning("heartbeat row not removed", exc_info=True)

    def shutdown(self, grace: float) -> int:
        """A graceful stop (SIGTERM): stop claiming, let the steps in flight finish for up to `grace` seconds while
        their leases are still renewed, then hand back the ones still waiting at once (their leases released, so
        another dispatcher sends them without waiting for expiry), and stop. Returns how many were handed back.

        (A stop that let leases run out sent a 40 s provider call twice.) A step handed back after the grace runs
        again elsewhere, so the grace (ENGINE_SHUTDOWN_GRACE) is longer than a slow call.
        """
        self._draining.set()
        self._wake.set()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._in_flight.holding(answered=None):
            time.sleep(0.05)
        waiting = self._in_flight.tokens(waiting_only=True)
        released = 0
        if waiting:
            try:
                released = queue_release(held=waiting)  # an answer arriving later is refused: the token is gone
            except Exception:
                logger.exception("leases not released; they will run out instead")
            finally:
                close_old_connections()
            logger.warning("grace over: steps handed back", extra={"released": released, "grace": grace})
        # Answers already being stored finish storing (a database write, not a provider call).
        settle = time.monotonic() + 10
        while time.monotonic() < settle and self._in_flight.holding(answered=True):
            time.sleep(0.05)
        self.stop(timeout=1)
        return released

    def run_forever(self) -> None:
        """Start, and block until `stop()` is called from another thread or a signal handler."""
        self.start()
        while not self._stop.wait(0.5):
            pass

    # --- syncing ------------------------------------------------------------------------------------------

    def sync_apps(self) -> dict[str, str]:
        """PUT every serve URL not yet synced, like Inngest's dev server; returns the errors by URL."""
        return self._apps.sync_pending()

    # --- claiming -----------------------------------------------------------------------------------------

    def run_claim_loop(self) -> None:
        """Claim while there is work; otherwise sleep until the next timer is due or a wake (wakeup.py)."""
        timers = Timers(idle_limit=self.poll_interval)
        while not self._stop.is_set() and not self._draining.is_set():
            try:
                timers.sweep_if_due()  # crons, debounces, batches, run timeouts, expired leases
                looked = timezone.now()  # before the claim reads its clock: what falls due after is a timer
                claimed = self.claim_once()
                timers.refresh(busy=bool(claimed), since=looked)
            except Exception:
                logger.exception("claim loop error; retrying")
                close_old_connections()
                claimed = 0
                self._stop.wait(1)
            if not claimed:
                wait = timers.wait_seconds()
                woken = self._wake.wait(min(wait, CLAIM_BUSY_RETRY_SECONDS) if self._claim_busy else wait)
                self._wake.clear()
                if woken and not self._stop.is_set():
                    # Let a few more requests finish so one claim serves them all (fewer, larger claims).
                    time.sleep(CLAIM_GATHER_SECONDS)

    def _sync_loop(self) -> None:
        """Sync apps in a thread of its own (a sync can take a second; claims must not wait for it).

        Failed syncs are retried every 2 s; every app is re-synced every RESYNC_SECONDS, as Inngest's dev server
        polls, so functions added or changed since are picked up without a restart.
        """
        next_resync = time.monotonic() + RESYNC_SECONDS
        while not self._stop.is_set():
            if time.monotonic() >= next_resync:
                self._apps.mark_all_pending()
                next_resync = time.monotonic() + RESYNC_SECONDS
            if self._apps.pending:
                try:
                    self._apps.sync_pending()
                except Exception:
                    logger.exception("app sync error; retrying")
                    close_old_connections()
            self._stop.wait(2)

    def claim_once(self) -> int:
        """Claim up to the free in-flight slots, plus the spare slot when it is free (see `queue_claim`)."""
        free, spare = self._in_flight.free_slots(self.max_in_flight)
        if free <= 0 and not spare:
            return 0
        token = f"{self.owner}/{next(self._claims)}"
        expires = time.monotonic() + self.lease_seconds
        items = queue_claim(owner=token, capacity=max(free, 0), lease_seconds=self.lease_seconds, spare=spare)
        self._claim_busy = items.busy
        started = self._in_flight.hold(items, token=token, expires=expires)
        for item in started:
            self._steps.submit(self._run_item(item))
        return len(items)

    def _listen_loop(self) -> None:
        """Wake the claim loop as soon as new work is stored (PostgreSQL LISTEN, wakeup.py)."""
        listen_for_work(self._stop, self._wake)

    def _beat_loop(self) -> None:
        """Stamp this dispatcher's heartbeat row (what /readyz reads) every BEAT_SECONDS until stopped."""
        started_at = timezone.now()
        while not self._stop.is_set():
            try:
                heartbeat_beat(owner=self.owner, started_at=started_at)
            except Exception:
                logger.warning("heartbeat not stored; retrying", exc_info=True)
                close_old_connections()
            self._stop.wait(BEAT_SECONDS)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            renewed_at = time.monotonic()
            held = self._in_flight.tokens()
            try:
                kept = queue_renew(held=held, lease_seconds=self.lease_seconds)
            except Exception:
                logger.exception("lease renewal failed")
                close_old_connections()
                continue
            self._in_flight.renewed(kept, held=held, at=renewed_at)

    # --- executing ----------------------------------------------------------------------------------------

    async def _run_item(self, item: ClaimedItem) -> None:
        lease = self._in_flight[item.id]
        try:
            if self._stop.is_set():
                await self._steps.db(queue_release, held={item.id: lease.token})
            else:
                await self.execute(item, lease)
        except Exception:
            logger.exception("dispatch failed; the item's lease will run out and it will be retried")
        finally:
            self._in_flight.let_go(item.id, lease)
            self._wake.set()

    async def execute(self, item: ClaimedItem, lease: Lease) -> Outcome:
        """Make one step request and store its outcome; logs one structured line."""
        started = time.perf_counter()
        request = await self._steps.db(call_request_build, item_id=item.id, owner=lease.token)
        if request is None:
            return Outcome(Result.LEASE_LOST)
        kind = hooks.queue_kind_named(request.kind) if request.kind else None
        if kind is not None:  # a feature's item (a pause's timeout, step.ai.infer): run by lookup, no SDK request
            return await self._run_kind(kind, item, lease, request.run_id, request.payload)
        if not self._in_flight.fresh(lease):
            # Frozen or stalled past the lease (another dispatcher may hold the item by now): send nothing.
            logger.warning("lease ran out before sending; not sent", extra={"run_id": request.run_id, "job": item.id})
            return Outcome(Result.LEASE_LOST)
        response, request_ms, timings = await self._caller.call(
            self._steps.http,
            request.url,
            request.body,
            run_id=request.run_id,
            job=item.id,
            request_version=request.request_version,
            fence=Fence(item.id, request.generation, lease.token) if self.fence else None,
        )
        token = self._in_flight.answered(lease)
        if response.fenced:
            # The serve endpoint refused it as stale before the step ran (the serve endpoint logged it): nothing
            # to store or retry. If this dispatcher still holds the item (a claim adopted the request, or the lease
            # ran out unreaped), it is released so that a claim sends it anew at once.
            await self._steps.db(queue_release, held={item.id: token})
            outcome = Outcome(Result.FENCED)
        else:
            answer = BatchedAnswer(item.id, item.run_pk, token, response, request.generation)  # answer_batch.py
            outcome = await self.answers.apply(answer)
        duration_ms = (time.perf_counter() - started) * 1000
        record = DispatchRecord(
            run_id=request.run_id,
            function=request.function_slug,
            step=outcome.step or request.step_name,
            attempt=item.attempt,
            http_status=response.status,
            outcome=outcome.result,
            duration_ms=round(duration_ms, 2),
            request_ms=round(request_ms, 2),
            function_ms=timings.get("function"),
            handler_ms=timings.get("comm_handler"),
            dispatcher=self.owner,
        )
        logger.info("dispatch", extra={**record.__dict__, **outcome.detail})
        if self.on_dispatch is not None:
            self.on_dispatch(record)
        return outcome

    async def _run_kind(
        self, kind: hooks.QueueKind, item: ClaimedItem, lease: Lease, run_id: str, payload: Any
    ) -> Outcome:
        """A feature's kind of item: its network part (if any) on this loop under a fresh lease, then its apply."""
        if kind.call is None:
            outcome = await self._steps.db(kind.apply, item_id=item.id, owner=lease.token)
        elif not self._in_flight.fresh(lease):
            logger.warning("lease ran out before sending; not sent", extra={"run_id": run_id, "job": item.id})
            return Outcome(Result.LEASE_LOST)
        else:
            result = await kind.call(self._steps.http, payload)
            token = self._in_flight.answered(lease)
            outcome = await self._steps.db(kind.apply, item_id=item.id, owner=token, result=result)
        logger.info(
            "dispatch", extra={"run_id": run_id, "kind": kind.name, "outcome": outcome.result, **outcome.detail}
        )
        return outcome
