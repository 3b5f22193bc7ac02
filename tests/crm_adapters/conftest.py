"""Fixtures for the CRM adapter tests: each fake CRM on a local port, and a connection pointing at it (the Street
fake and the shared servers are every area's: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from crm_adapters.models import CrmConnection, Provider
from crm_adapters.oauth import clear_token_cache
from tests.factories import CrmConnectionFactory
from tests.fakes.crm import FakeAgentOs, FakeAlto, FakeCrm, FakeLoop, FakeReapit, FakeStreet
from tests.fakes.crm.base import fake_on_shared_server

# Generous limits so that ordinary tests never wait on the limiter; the rate-limit tests set their own.
FAST_LIMITS = {
    f"{provider}.{name}": {"requests": 10_000, "per_seconds": 1, "burst": 100}
    for provider, name in [
        ("reapit", "app"),
        ("agentos", "requests"),
        ("alto", "requests"),
        ("street", "reads"),
        ("street", "writes"),
        ("loop", "requests"),
    ]
}


@pytest.fixture(autouse=True)
def crm_settings(settings) -> Iterator[None]:
    settings.CRM_HTTP_TIMEOUT = 0.5
    settings.CRM_HTTP_CONNECT_TIMEOUT = 0.5
    settings.CRM_RATE_LIMITS = dict(FAST_LIMITS)
    settings.CRM_RATE_LIMIT_MAX_WAIT = 2.0
    clear_token_cache()
    yield
    clear_token_cache()


def _running(fake_class: type[FakeCrm], servers: dict[str, HTTPServer], **options: Any) -> Iterator[Any]:
    fake = fake_on_shared_server(fake_class, servers, **options)
    yield fake
    fake.stop()


@pytest.fixture
def start_fake(crm_servers) -> Iterator[Callable[..., Any]]:
    """Builder: `start_fake(FakeStreet, writes_per_window=16, window=0.5)` for a fake with non-default options."""
    started: list[FakeCrm] = []

    def start(fake_class: type[FakeCrm], **options: Any) -> Any:
        fake = fake_on_shared_server(fake_class, crm_servers, **options)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def reapit(crm_servers) -> Iterator[FakeReapit]:
    yield from _running(FakeReapit, crm_servers)


@pytest.fixture
def alto(crm_servers) -> Iterator[FakeAlto]:
    yield from _running(FakeAlto, crm_servers)


@pytest.fixture
def agentos(crm_servers) -> Iterator[FakeAgentOs]:
    yield from _running(FakeAgentOs, crm_servers)


@pytest.fixture
def loop(crm_servers) -> Iterator[FakeLoop]:
    yield from _running(FakeLoop, crm_servers)


PROVIDER_OF = {
    FakeReapit: Provider.REAPIT,
    FakeAlto: Provider.ALTO,
    FakeAgentOs: Provider.AGENTOS,
    FakeStreet: Provider.STREET,
    FakeLoop: Provider.LOOP,
}


@pytest.fixture
def connect(tenant) -> Callable[..., CrmConnection]:
    """Builder: `connect(fake, config={...overrides}, secrets={...})` -> the tenant's connection to that fake."""

    def build(fake: Any, *, config: dict | None = None, secrets: dict | None = None, **fields: Any) -> CrmConnection:
        return CrmConnectionFactory(
            tenant=fields.pop("tenant", tenant),
            provider=PROVIDER_OF[type(fake)],
            config={**fake.connection_config(), **(config or {})},
            secrets=secrets if secrets is not None else fake.secrets(),
            **fields,
        )

    return build
