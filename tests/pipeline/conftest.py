from __future__ import annotations

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.pipeline.driver import PipelineDriver


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


@pytest.fixture
def template_writer(settings):
    """No OPENAI_API_KEY: the offline template writer."""
    settings.OPENAI_API_KEY = ""


@pytest.fixture
def pipeline(client, event_api) -> PipelineDriver:
    """Drives functions through the real serve endpoint as Inngest would, following emitted events."""
    return PipelineDriver(client, event_api)
