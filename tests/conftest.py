from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.factories import ContactFactory, MembershipFactory, TenantFactory, UserFactory
from tests.fakes.crm import FakeStreet
from tests.fakes.crm.base import fake_on_shared_server
from tests.fakes.inngest_event_api import FakeEventApi
from tests.fakes.openai_server import FakeOpenAI
from tests.waiting import wait_for


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with the tenant pause listener (its own connection) closed before the
    database is dropped, and any other session still on it named and ended, so that the drop never fails."""
    yield
    from tenants.pause_flags import paused_tenants

    paused_tenants.stop()
    with django_db_blocker.unblock():
        left = _sessions_left_ended()
    if left:  # a connection some test or process never closed: named here, not left to a bare drop failure
        warnings.warn(f"sessions still on the test database at its drop, ended: {left}", stacklevel=1)


def _sessions_left_ended() -> list[tuple]:
    """Other sessions on the test database once they have had a moment to close: (pid, start, last query) each,
    after ending them. A closed connection's backend exits within moments; one still there was never closed."""
    from django.db import connection

    def others() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, backend_start, left(query, 200) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            return cursor.fetchall()

    try:
        wait_for(lambda: not others(), timeout=10, message="the test database's other sessions to close")
        return []
    except AssertionError:
        left = others()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [[row[0] for row in left]])
        return left


#: The run ledger's writers (jobs/ledger.py): the local engine, or the SDK middleware as on Inngest Cloud.
LEDGER_SOURCES = ("engine", "sdk")


@pytest.fixture
def ledger_source(request, settings) -> str:
    """Who writes JobRun/StepAttempt for the test (`JOBS_LEDGER_SOURCE`): the default, or the parameter given with
    `@pytest.mark.parametrize("ledger_source", LEDGER_SOURCES, indirect=True)`. In-process, like `settings`: the
    live server's and the dispatchers' threads read it at each request and each engine change."""
    source = getattr(request, "param", settings.JOBS_LEDGER_SOURCE)
    assert source in LEDGER_SOURCES, source
    settings.JOBS_LEDGER_SOURCE = source
    return source


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def other_tenant(db):
    return TenantFactory()


@pytest.fixture
def agent(tenant):
    return MembershipFactory(tenant=tenant).user


@pytest.fixture
def make_contact(db):
    """Builder: `make_contact(tenant=..., **fields)`."""
    return ContactFactory


@pytest.fixture
def make_user(db):
    return UserFactory


@pytest.fixture
def event_api(settings) -> FakeEventApi:
    """Inngest's event API on a local port; the Inngest client sends there for the test's duration."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake = FakeEventApi(server)
    server.expect_request(re.compile(r"^/e/.+"), method="POST").respond_with_handler(fake.handle)
    server.expect_request(re.compile(r"^/api/v2/runs/[^/]+/rerun$"), method="POST").respond_with_handler(
        fake.handle_rerun
    )
    settings.INNGEST_BASE_URL = fake.url
    yield fake
    if fake.hold is not None:
        fake.hold.set()  # nothing stays held after the test
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def openai_server(settings):
    """A local OpenAI-compatible server; the AI step talks to it through the real `openai` client."""
    server = FakeOpenAI().start()
    settings.OPENAI_API_KEY = server.api_key
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_MODEL = "gpt-4o-mini"
    settings.OPENAI_TIMEOUT = 5.0
    yield server
    server.stop()


@pytest.fixture(scope="session")
def crm_servers() -> Iterator[dict[str, HTTPServer]]:
    """One running local server per fake CRM for the whole session; each test attaches a fresh fake to it."""
    servers: dict[str, HTTPServer] = {}
    yield servers
    for server in servers.values():
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def street(crm_servers) -> Iterator[FakeStreet]:
    """A fresh fake Street CRM on its shared threaded local server."""
    fake = fake_on_shared_server(FakeStreet, crm_servers)
    yield fake
    fake.stop()
