"""The dispatcher: syncs apps, claims due work from PostgreSQL and calls the serve endpoint over HTTP.

One main thread claims (in batches, up to the free workers), a pool of worker threads each make one step
request at a time, and a heartbeat renews the leases of requests in flight. Any number of dispatchers may run
against one database; a dead one's leases run out and its work is picked up by the others.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import psycopg
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from .answers import CallResponse, Outcome, call_response_apply, run_refuse
from .protocol import MAX_SDK_REQUEST_BODY_BYTES, canonical_json, sign_body, without_state_for_api
from .services import (
    WORK_CHANNEL,
    ClaimedItem,
    call_request_build,
    cron_fire_due,
    queue_claim,
    queue_reap_expired,
    queue_release,
    queue_renew,
)

logger = logging.getLogger("jobs.engine.dispatch")

CLAIM_GATHER_SECONDS = 0.002
RESYNC_SECONDS = 30
_SERVER_TIMING_FUNCTION = re.compile(r"(?:^|,)\s*function;dur=([\d.]+)")


@dataclass(frozen=True)
class DispatchRecord:
    """One dispatch as logged: also handed to `on_dispatch` (benchmarks and tests read it)."""

    run_id: str
    function: str
    step: str
    attempt: int
    http_status: int | None
    outcome: str
    duration_ms: float
    request_ms: float
    function_ms: float | None
    dispatcher: str


class Dispatcher:
    """Runs the engine's queue until `stop()`; see the module docstring."""

    def __init__(
        self,
        *,
        app_urls: list[str] | None = None,
        workers: int | None = None,
        lease_seconds: float | None = None,
        poll_interval: float | None = None,
        step_timeout: float | None = None,
        owner: str | None = None,
        on_dispatch: Callable[[DispatchRecord], None] | None = None,
    ) -> None:
        self.app_urls = app_urls or list(settings.ENGINE_APP_URLS) or [settings.INNGEST_SERVE_URL]
        self.workers = workers or settings.ENGINE_WORKERS
        self.lease_seconds = lease_seconds or settings.ENGINE_LEASE_SECONDS
        self.poll_interval = poll_interval or settings.ENGINE_POLL_INTERVAL
        self.step_timeout = step_timeout or settings.ENGINE_STEP_TIMEOUT
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_dispatch = on_dispatch
        self.signing_key = "" if settings.INNGEST_DEV else settings.INNGEST_SIGNING_KEY
        self.server_kind = "dev" if settings.INNGEST_DEV else "cloud"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._work: queue.Queue[ClaimedItem | None] = queue.Queue()
        # One extra worker only for key queues with nothing in flight: a quiet tenant never waits for a free
        # worker behind another tenant's backlog.
        self._spare_work: queue.Queue[ClaimedItem | None] = queue.Queue()
        self._spare_item: int | None = None
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.step_timeout, connect=10),
            limits=httpx.Limits(max_connections=self.workers + 2, max_keepalive_connections=self.workers + 2),
        )
        self._unsynced: set[str] = set(self.app_urls)

    # --- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and heartbeat threads and the claim loop in the background."""
        for index in range(self.workers):
            self._spawn(lambda: self._worker_loop(self._work), f"engine-worker-{index}")
        self._spawn(lambda: self._worker_loop(self._spare_work), "engine-worker-spare")
        self._spawn(self._heartbeat_loop, "engine-heartbeat")
        self._spawn(self._listen_loop, "engine-listen")
        self._spawn(self._sync_loop, "engine-sync")
        self._spawn(self.run_claim_loop, "engine-claims")

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
        """Stop claiming, let requests in flight finish (up to `timeout`), give back what was not started."""
        self._stop.set()
        self._wake.set()
        for _ in range(self.workers):
            self._work.put(None)
        self._spare_work.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        self._http.close()

    def run_forever(self) -> None:
        """Start, and block until `stop()` is called from another thread or a signal handler."""
        self.start()
        while not self._stop.wait(0.5):
            pass

    # --- syncing ------------------------------------------------------------------------------------------

    def sync_apps(self) -> dict[str, str]:
        """PUT every serve URL like Inngest's dev server; returns the errors by URL (judged by the body)."""
        errors: dict[str, str] = {}
        for url in sorted(self._unsynced):
            error = self._sync_one(url)
            if error:
                errors[url] = error
                logger.warning("app sync failed", extra={"url": url, "error": error})
            else:
                self._unsynced.discard(url)
                logger.info("app synced", extra={"url": url})
        return errors

    def _sync_one(self, url: str) -> str:
        body = canonical_json({"url": url})
        headers = {"Content-Type": "application/json", "X-Inngest-Server-Kind": self.server_kind}
        if self.signing_key:
            headers["X-Inngest-Signature"] = sign_body(body, self.signing_key)
        try:
            response = self._http.put(url, content=body, headers=headers, timeout=30)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        try:
            payload = response.json()
        except ValueError:
            payload = None
        # The SDK answers 200 even when registration failed, with {"error": ...}: trust the body, not the status.
        if isinstance(payload, dict) and payload.get("error"):
            return str(payload["error"])
        if response.status_code >= 400:
            return f"HTTP {response.status_code}: {response.text[:500]}"
        return ""

    # --- claiming -----------------------------------------------------------------------------------------

    def run_claim_loop(self) -> None:
        next_cron = 0.0
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now >= next_cron:
                    queue_reap_expired()
                    cron_fire_due()
                    next_cron = now + 1
                claimed = self.claim_once()
            except Exception:
                logger.exception("claim loop error; retrying")
                close_old_connections()
                claimed = 0
                self._stop.wait(1)
            if not claimed:
                woken = self._wake.wait(self.poll_interval)
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
                self._unsynced.update(self.app_urls)
                next_resync = time.monotonic() + RESYNC_SECONDS
            if self._unsynced:
                try:
                    self.sync_apps()
                except Exception:
                    logger.exception("app sync error; retrying")
                    close_old_connections()
            self._stop.wait(2)

    def claim_once(self) -> int:
        """Claim for the free workers, plus the spare worker when it is idle (see `queue_claim`)."""
        with self._lock:
            spare_busy = self._spare_item is not None
            free = self.workers - (len(self._in_flight) - (1 if spare_busy else 0))
        spare = 0 if spare_busy else 1
        if free <= 0 and not spare:
            return 0
        items = queue_claim(owner=self.owner, capacity=free, lease_seconds=self.lease_seconds, spare=spare)
        with self._lock:
            self._in_flight.update(item.id for item in items)
            for item in items:
                if item.spare:
                    self._spare_item = item.id
        for item in items:
            (self._spare_work if item.spare else self._work).put(item)
        return len(items)

    def _listen_loop(self) -> None:
        """Wake the claim loop as soon as new runs are stored (PostgreSQL LISTEN); polling remains the fallback."""
        while not self._stop.is_set():
            try:
                params = connections["default"].get_connection_params()
                with psycopg.connect(**params, autocommit=True) as listener:
                    listener.execute(f"LISTEN {WORK_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in listener.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except psycopg.Error:
                logger.warning("LISTEN connection lost; polling until it is back", exc_info=True)
                self._stop.wait(1)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            with self._lock:
                held = list(self._in_flight)
            try:
                queue_renew(owner=self.owner, item_ids=held, lease_seconds=self.lease_seconds)
            except Exception:
                logger.exception("lease renewal failed")
                close_old_connections()

    # --- executing ----------------------------------------------------------------------------------------

    def _worker_loop(self, work: queue.Queue[ClaimedItem | None]) -> None:
        while True:
            item = work.get()
            if item is None:
                return
            try:
                if self._stop.is_set():
                    queue_release(owner=self.owner, item_ids=[item.id])
                else:
                    self.execute(item)
            except Exception:
                logger.exception("dispatch failed; the item's lease will run out and it will be retried")
                close_old_connections()
            finally:
                with self._lock:
                    self._in_flight.discard(item.id)
                    if self._spare_item == item.id:
                        self._spare_item = None
                self._wake.set()

    def execute(self, item: ClaimedItem) -> Outcome:
        """Make one step request and store its outcome; logs one structured line."""
        started = time.perf_counter()
        request = call_request_build(item_id=item.id, owner=self.owner)
        if request is None:
            return Outcome("lease-lost")
        if request.refused:
            outcome = run_refuse(item_id=item.id, owner=self.owner, reason=request.refused)
            logger.info("dispatch", extra={"run_id": request.run_id, "outcome": outcome.result, **outcome.detail})
            return outcome
        response, request_ms, function_ms = self._call(
            request.url, request.body, run_id=request.run_id, job=item.id, request_version=request.request_version
        )
        outcome = call_response_apply(item_id=item.id, owner=self.owner, response=response)
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
            function_ms=function_ms,
            dispatcher=self.owner,
        )
        logger.info("dispatch", extra={**record.__dict__, **outcome.detail})
        if self.on_dispatch is not None:
            self.on_dispatch(record)
        return outcome

    def _encode(self, body: dict) -> bytes:
        # Signed requests must be the RFC 8785 bytes the SDK re-derives; unsigned ones only need to be JSON.
        return canonical_json(body) if self.signing_key else json.dumps(body, separators=(",", ":")).encode()

    def _call(
        self, url: str, body: dict, *, run_id: str, job: int, request_version: int = -1
    ) -> tuple[CallResponse, float, float | None]:
        content = self._encode(body)
        if len(content) > MAX_SDK_REQUEST_BODY_BYTES:
            content = self._encode(without_state_for_api(body))
        headers = {
            "Content-Type": "application/json",
            # One connection per step: Django's servers write headers and body in separate packets, and with
            # keep-alive Nagle's algorithm plus the client's delayed ACK stalls every response by ~40 ms.
            # Closing makes the server flush at once; a new local connection costs ~0.1 ms.
            "Connection": "close",
            "X-Inngest-Server-Kind": self.server_kind,
            "X-Run-ID": run_id,
            "x-request-id": uuid.uuid4().hex,
            "x-inngest-job-id": str(job),
            "X-Inngest-Req-Version": str(request_version),
        }
        if self.signing_key:
            headers["X-Inngest-Signature"] = sign_body(content, self.signing_key)
        started = time.perf_counter()
        sent_at = timezone.now()
        try:
            status, response_headers, raw = _post(url, content, headers, timeout=self.step_timeout)
        except (OSError, http.client.HTTPException) as error:
            elapsed = (time.perf_counter() - started) * 1000
            failed = CallResponse(status=None, transport_error=f"{type(error).__name__}: {error}", started_at=sent_at)
            return failed, elapsed, None
        elapsed = (time.perf_counter() - started) * 1000
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        timing = _SERVER_TIMING_FUNCTION.search(response_headers.get("server-timing", ""))
        return (
            CallResponse(
                status=status,
                from_sdk="x-inngest-sdk" in response_headers,
                no_retry=response_headers.get("x-inngest-no-retry", "").lower() == "true",
                retry_after=response_headers.get("retry-after"),
                body=parsed,
                request_version=_int_or_none(response_headers.get("x-inngest-req-version")),
                started_at=sent_at,
            ),
            elapsed,
            float(timing.group(1)) if timing else None,
        )


def _post(url: str, content: bytes, headers: dict[str, str], *, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """One POST on its own connection with the standard library: a fraction of a pooled client's CPU per call."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "localhost", parts.port, timeout=timeout)
    try:
        connection.request(
            "POST", f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/", content, headers
        )
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
