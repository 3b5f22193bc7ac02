"""The pause switch's per-process cache: no tenant read per check, invalidated at once here and by NOTIFY elsewhere."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from tenants import pause_flags
from tenants.models import Tenant
from tenants.pause_flags import paused_tenants, tenant_jobs_paused
from tenants.services import agencies_jobs_pause
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def other_process_connection() -> psycopg.Connection:
    """A connection of its own, as another web worker or host would write: no signal of this process fires."""
    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)
    return psycopg.connect(**params, autocommit=True)


def listening() -> None:
    tenant_jobs_paused("00000000-0000-0000-0000-000000000000")  # starts the listener if needed
    wait_for(paused_tenants._listening.is_set, message="the pause listener listening")


def test_checks_read_no_tenant_once_the_set_is_loaded(tenant, other_tenant):
    listening()
    tenant_jobs_paused(tenant.id)  # loads the set: one query

    with CaptureQueriesContext(connection) as queries:
        answers = [tenant_jobs_paused(t.id) for t in (tenant, other_tenant) * 50]

    assert answers == [False] * 100
    assert len(queries) == 0


def test_a_change_committed_by_another_process_is_seen_through_notify(tenant):
    listening()
    assert not tenant_jobs_paused(tenant.id)  # cached: not paused

    with other_process_connection() as other:
        other.execute("UPDATE tenants_tenant SET jobs_paused = true WHERE id = %s", [tenant.id])
    wait_for(lambda: tenant_jobs_paused(tenant.id), message="the NOTIFY-invalidated set shows the pause")

    with other_process_connection() as other:
        other.execute("UPDATE tenants_tenant SET jobs_paused = false WHERE id = %s", [tenant.id])
    wait_for(lambda: not tenant_jobs_paused(tenant.id), message="the resume")


def test_a_change_made_in_this_process_is_seen_at_once(tenant, other_tenant):
    listening()
    assert not tenant_jobs_paused(tenant.id)

    tenant.jobs_paused = True
    tenant.save(update_fields=["jobs_paused"])
    assert tenant_jobs_paused(tenant.id)  # no waiting for the notification

    agencies_jobs_pause(tenant_ids=[tenant.id, other_tenant.id], paused=True)
    assert tenant_jobs_paused(other_tenant.id)
    agencies_jobs_pause(tenant_ids=[tenant.id], paused=False)
    assert not tenant_jobs_paused(tenant.id) and tenant_jobs_paused(other_tenant.id)


def test_while_the_listener_is_cut_off_every_check_reads_the_database(tenant, monkeypatch):
    listening()
    assert not tenant_jobs_paused(tenant.id)
    refused = []

    def database_unreachable(params):
        refused.append(params)
        raise psycopg.OperationalError("connection refused (test)")

    monkeypatch.setattr(pause_flags, "listener_connection", database_unreachable)
    with other_process_connection() as other:
        (killed,) = other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = 'LISTEN tenants_jobs_paused'"
        ).fetchone()
        assert killed
        wait_for(lambda: refused, message="the listener trying to reconnect")
        # A change while nobody listens: no NOTIFY can reach this process, and the check still sees it.
        other.execute("UPDATE tenants_tenant SET jobs_paused = true WHERE id = %s", [tenant.id])
    with CaptureQueriesContext(connection) as queries:
        assert tenant_jobs_paused(tenant.id)
    assert len(queries) == 1  # read from the database, not from the set cached before

    monkeypatch.undo()
    wait_for(paused_tenants._listening.is_set, message="the listener back")
    assert tenant_jobs_paused(tenant.id)


def test_a_check_after_stop_reads_the_database_and_opens_no_listener_again(tenant):
    """stop() is for good: a late check (a server thread still answering while the tests' database is about to be
    dropped) reads the database instead of opening a new LISTEN session on it."""
    flags = pause_flags.PausedTenants()  # not the process's own: other tests here need that one listening
    flags.is_paused(tenant.id)
    wait_for(flags._listening.is_set, message="this instance's listener listening")
    flags.stop()

    Tenant.objects.filter(pk=tenant.pk).update(jobs_paused=True)  # no signal: only a read can see it
    with CaptureQueriesContext(connection) as queries:
        assert flags.is_paused(tenant.id)

    assert len(queries) == 1
    assert flags._thread is None  # no listener thread started again
