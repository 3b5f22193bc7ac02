"""/healthz and /readyz (nurturehub/health.py): unauthenticated, nothing sensitive, and each readiness check
fails for its own cause: no dispatcher heartbeat, an event pending too long, an unapplied migration."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from jobs.engine.models import App, DispatcherHeartbeat
from jobs.models import EventLog
from nurturehub import health
from tests.waiting import wait_for

CHECKS = {"database", "migrations", "engine", "outbox"}


@pytest.fixture(autouse=True)
def _recheck_migrations(monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)


def _synced_app() -> None:
    App.objects.create(name="nurturehub", url="http://127.0.0.1/api/inngest", synced_at=timezone.now())


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=30)


@pytest.mark.django_db(transaction=True)
def test_healthz_answers_without_credentials(live_server):
    response = httpx.get(f"{live_server.url}/healthz", timeout=30)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-cache" in response.headers["Cache-Control"]


@pytest.mark.urls("tests.engine.urls_health")
@pytest.mark.django_db(transaction=True)
def test_readyz_follows_the_dispatchers_heartbeat(engine):
    not_ready = _ready(engine.url)
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["engine"].startswith("no dispatcher heartbeat")
    assert set(not_ready.json()["checks"]) == CHECKS

    dispatcher = engine.start_dispatcher()
    wait_for(lambda: _ready(engine.url).status_code == 200, timeout=30, message="ready once a dispatcher beats")
    assert _ready(engine.url).json() == {"status": "ready", "checks": dict.fromkeys(CHECKS, "ok")}

    engine.dispatchers.remove(dispatcher)  # stopped here, not again by the harness
    dispatcher.stop(timeout=10)  # a clean stop removes its beat at once
    assert not DispatcherHeartbeat.objects.filter(owner=dispatcher.owner).exists()
    assert _ready(engine.url).json()["checks"]["engine"] != "ok"


@pytest.mark.django_db(transaction=True)
def test_a_stale_heartbeat_is_not_ready(live_server, settings):
    settings.READY_ENGINE_HEARTBEAT_MAX_AGE = 30
    _synced_app()
    DispatcherHeartbeat.objects.create(
        owner="dead-dispatcher", started_at=timezone.now(), beat_at=timezone.now() - timedelta(seconds=31)
    )
    assert _ready(live_server.url).json()["checks"]["engine"] != "ok"
    DispatcherHeartbeat.objects.update(beat_at=timezone.now())
    assert _ready(live_server.url).json()["checks"]["engine"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_beating_dispatcher_whose_app_is_not_synced_is_not_ready(live_server):
    """Events sent before the sync start no run (as on Inngest): not ready until the app is synced."""
    DispatcherHeartbeat.objects.create(owner="d", started_at=timezone.now(), beat_at=timezone.now())
    App.objects.create(name="nurturehub", url="http://127.0.0.1/api/inngest", sync_error="HTTP 500")
    assert _ready(live_server.url).json()["checks"]["engine"].startswith("the app is not synced yet")
    App.objects.update(sync_error="", synced_at=timezone.now())
    assert _ready(live_server.url).json()["checks"]["engine"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_an_event_pending_too_long_is_not_ready(live_server, settings, tenant):
    settings.READY_OUTBOX_MAX_AGE = 300
    _synced_app()
    DispatcherHeartbeat.objects.create(owner="d", started_at=timezone.now(), beat_at=timezone.now())
    row = EventLog.objects.create(event_id="e1", name="contact/category.assigned", status=EventLog.Status.PENDING)
    assert _ready(live_server.url).status_code == 200  # pending, but young

    EventLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=301))
    late = _ready(live_server.url)
    assert late.status_code == 503
    assert late.json()["checks"]["outbox"].startswith("events pending too long")


@pytest.mark.django_db(transaction=True)
def test_an_unapplied_migration_is_not_ready(live_server):
    _synced_app()
    DispatcherHeartbeat.objects.create(owner="d", started_at=timezone.now(), beat_at=timezone.now())
    latest = MigrationRecorder.Migration.objects.filter(app="jobs").order_by("-id").first()
    latest.delete()  # as if the new code were deployed before `migrate`
    try:
        response = _ready(live_server.url)
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"] == "unapplied migrations: run `manage.py migrate`"
    finally:
        MigrationRecorder.Migration.objects.create(app=latest.app, name=latest.name)
    assert _ready(live_server.url).status_code == 200


@pytest.mark.django_db
def test_probes_are_not_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # a new handler: SecurityMiddleware reads the setting when it is built
    assert client.get("/readyz").status_code in (200, 503)
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/").status_code == 301  # everything else is redirected


@pytest.mark.django_db
def test_not_ready_is_an_answer_not_a_server_error_in_the_log(caplog):
    """A 503 from /readyz is what a probe asks for while a dispatcher starts (run_all polls it): Django must not log
    it as an ERROR the way it logs a failing view; any other 5xx still is."""
    client = Client()
    with caplog.at_level("INFO", logger="django.request"):
        response = client.get("/readyz")  # no dispatcher beats in this test: not ready
    assert response.status_code == 503
    assert [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"] == []
