from __future__ import annotations

import pytest

from tests.pipeline.driver import PipelineDriver


@pytest.fixture
def template_writer(settings):
    """No OPENAI_API_KEY: the offline template writer."""
    settings.OPENAI_API_KEY = ""


@pytest.fixture
def pipeline(client, event_api) -> PipelineDriver:
    """Drives functions through the real serve endpoint as Inngest would, following emitted events."""
    return PipelineDriver(client, event_api)
