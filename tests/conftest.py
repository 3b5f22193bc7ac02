from __future__ import annotations

import re

import pytest
from pytest_httpserver import HTTPServer

from tests.factories import ContactFactory, MembershipFactory, TenantFactory, UserFactory
from tests.fakes.inngest_event_api import FakeEventApi


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
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    fake = FakeEventApi(server)
    server.expect_request(re.compile(r"^/e/.+"), method="POST").respond_with_handler(fake.handle)
    settings.INNGEST_BASE_URL = fake.url
    yield fake
    server.clear()
    if server.is_running():
        server.stop()
