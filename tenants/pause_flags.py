"""Which agencies have their background work paused, cached per process and invalidated by PostgreSQL.

Every step request of every run asks whether its tenant is paused (jobs.functions.base); reading the tenant each
time cost a query per step. Here each process keeps the set of paused tenant ids (normally a handful) and reloads
it only after it changed:
- across processes: a trigger (migration tenants 0003) sends `NOTIFY tenants_jobs_paused` when a tenant's
  `jobs_paused` changes, is inserted paused or a paused one is deleted; PostgreSQL delivers it at commit, and a
  listener thread of the process (its own connection, `LISTEN`) marks the set stale;
- in this process, at once: saving or deleting a Tenant, and `agencies_jobs_pause`, mark it stale themselves (an
  uncommitted change is seen by the transaction that made it, as a query would).
Until the listener is listening (start-up, a lost connection being re-opened) nothing is cached: every check is
the query it replaces. A reload that raced a notification is not kept. Another process sees a change as soon as
its listener reads the notification, milliseconds after the commit; a run's check sits before each step, so at
worst one more step runs, as it could when the pause landed just after the query.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from uuid import UUID

from django.db import connections
from django.db.models.signals import post_delete, post_save

from .models import Tenant

logger = logging.getLogger(__name__)

CHANNEL = "tenants_jobs_paused"
#: Seconds between the listener's checks that it should stop, and before it re-opens a lost connection.
POLL_SECONDS = 1.0


class PausedTenants:
    def __init__(self) -> None:
        self._paused: frozenset[str] | None = None  # None: stale, reload at the next check
        self._generation = 0  # one more at every invalidation: a reload that raced one is not kept
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        self._stopped = False  # stop() is for good: later checks read the database, no listener starts again

    def is_paused(self, tenant_id: UUID | str) -> bool:
        if self._pid != os.getpid() and not self._stopped:
            self._start()
        if not self._listening.is_set():
            return Tenant.objects.filter(pk=tenant_id, jobs_paused=True).exists()
        paused = self._paused
        if paused is None:
            generation = self._generation
            paused = frozenset(str(pk) for pk in Tenant.objects.filter(jobs_paused=True).values_list("pk", flat=True))
            if generation == self._generation and self._listening.is_set():
                self._paused = paused
        return str(tenant_id) in paused

    def invalidate(self) -> None:
        self._generation += 1
        self._paused = None

    def stop(self) -> None:
        """Stop the listener for good (tests and benches, before their database is dropped): later checks read the
        database, as while the listener is down. Before, the next check started a listener again: a server thread
        still answering at the tests' end left a LISTEN session on the database being dropped."""
        with self._start_lock:
            self._stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10 * POLL_SECONDS)
        self._listening.clear()
        self.invalidate()
        self._thread, self._pid = None, 0

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid() or self._stopped:
                return
            # A forked child inherits the parent's flags but not its thread: start over.
            self._listening, self._stop = threading.Event(), threading.Event()
            self.invalidate()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._listen, name="tenant-pause-listener", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        params: dict[str, Any] = connections["default"].get_connection_params()
        params.pop("cursor_factory", None)
        while not self._stop.is_set():
            try:
                with listener_connection(params) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.invalidate()  # whatever was cached before LISTEN may have missed a change
                    self._listening.set()
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=POLL_SECONDS, stop_after=1):
                            self.invalidate()
            except Exception:
                logger.warning("tenant pause listener lost its connection; checking the database meanwhile")
            finally:
                self._listening.clear()
                self.invalidate()
            self._stop.wait(POLL_SECONDS)


def listener_connection(params: dict[str, Any]) -> Any:
    """The listener's own connection (autocommit: LISTEN takes effect at once)."""
    import psycopg

    return psycopg.connect(**params, autocommit=True)


paused_tenants = PausedTenants()


def tenant_jobs_paused(tenant_id: UUID | str) -> bool:
    """Whether this tenant's background work is paused (no query while the cached set is current)."""
    return paused_tenants.is_paused(tenant_id)


def _tenant_changed(sender: Any, **kwargs: Any) -> None:
    paused_tenants.invalidate()


post_save.connect(_tenant_changed, sender=Tenant, dispatch_uid="tenants.pause_flags.saved")
post_delete.connect(_tenant_changed, sender=Tenant, dispatch_uid="tenants.pause_flags.deleted")
