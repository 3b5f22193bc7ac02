from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_adapters.oauth import clear_token_cache
from jobs.engine.dispatcher import Dispatcher
from tests.pipeline.engine_pipeline import EnginePipeline


@pytest.fixture
def seller(tenant, make_contact):
    """Priya, a contact of the tenant's in the seller category."""
    contact = make_contact(tenant=tenant, first_name="Priya")
    contact.category = "seller"
    contact.save()
    return contact


@pytest.fixture
def template_writer(settings):
    """No OPENAI_API_KEY: the offline template writer."""
    settings.OPENAI_API_KEY = ""


@pytest.fixture
def pipeline(event_api, engine, live_server) -> EnginePipeline:
    """The local engine running the functions through the real serve endpoint, one event at a time; what they
    emit waits in the fake event API until the test sends it on (`drain`)."""
    return EnginePipeline(live_server.url, event_api)


@pytest.fixture
def idle_engine(live_server, settings) -> Iterator[Dispatcher]:
    """The local engine with the app synced and its dispatcher not started yet: events sent now are taken in
    (runs, debounces and rate limits decided as they arrive) and nothing runs until the test calls `start()`.
    Retry delays are compressed (ENGINE_DELAY_SCALE)."""
    settings.ENGINE_DELAY_SCALE = 0.001
    settings.ENGINE_LEASE_SECONDS = 5.0
    settings.ENGINE_POLL_INTERVAL = 0.02
    settings.CRM_RATE_LIMIT_MAX_WAIT = 2.0
    clear_token_cache()
    dispatcher = Dispatcher(app_urls=[settings.INNGEST_SERVE_URL], workers=12)
    assert dispatcher.sync_apps() == {}
    yield dispatcher
    dispatcher.stop(timeout=10)
    clear_token_cache()


@pytest.fixture
def engine(idle_engine) -> Dispatcher:
    """The local engine running: real HTTP to the serve endpoint, dispatcher threads, real PostgreSQL."""
    idle_engine.start()
    return idle_engine
