"""`/healthz` (the process answers) and `/readyz` (it can do its work), for probes, proxies and supervisors.

Both are unauthenticated and say nothing sensitive: check names and "ok" or a short fixed reason, never an
exception's text (which could carry a host name or a user). `/readyz` answers 503 when any check fails:
- database: a connection and `SELECT 1`;
- migrations: none of this code's migrations left unapplied (an upgrade migrates before the new code serves);
- engine (only with the local engine on): a dispatcher's heartbeat within READY_ENGINE_HEARTBEAT_MAX_AGE, and the
  app synced (before, like Inngest, the engine starts no run for an event: an event sent then would be lost);
- outbox: the oldest event not yet accepted by Inngest is younger than READY_OUTBOX_MAX_AGE.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

_migrated = False  # once all are applied, they stay applied for this code: the plan is not re-read


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database()}
    if checks["database"] == "ok":
        checks["migrations"] = _migrations()
        if settings.LOCAL_ENGINE_ENABLED and "jobs.engine" in settings.INSTALLED_APPS:
            checks["engine"] = _engine()
        checks["outbox"] = _outbox()
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        logger.warning("readyz: database unreachable", exc_info=True)
        return "unreachable"
    return "ok"


def _migrations() -> str:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return "ok" if _migrated else "unapplied migrations: run `manage.py migrate`"


def _engine() -> str:
    # Through the app registry: nothing outside jobs/engine imports the engine.
    heartbeat = apps.get_model("engine", "DispatcherHeartbeat")
    since = timezone.now() - timedelta(seconds=settings.READY_ENGINE_HEARTBEAT_MAX_AGE)
    if not heartbeat.objects.filter(beat_at__gte=since).exists():
        return "no dispatcher heartbeat: is `manage.py run_engine` running?"
    if not apps.get_model("engine", "App").objects.filter(synced_at__isnull=False, sync_error="").exists():
        return "the app is not synced yet: the dispatcher syncs it at start (see its log)"
    return "ok"


def _outbox() -> str:
    from jobs.outbox import outbox_state

    age = outbox_state().oldest_age_seconds
    if age is None or age <= settings.READY_OUTBOX_MAX_AGE:
        return "ok"
    return "events pending too long: is Inngest reachable and `manage.py relay_events` running?"
