"""The one Inngest client, configured from settings.

Development (`INNGEST_DEV=1`): no signatures, and the SDK talks to `INNGEST_BASE_URL` (the local engine mounted
at the web origin, or a real `inngest-cli dev`). Production: Inngest Cloud (or `INNGEST_BASE_URL` for a
self-hosted server) with the event and signing keys; the serve endpoint then verifies every request's signature.
"""

from __future__ import annotations

import logging
from functools import cache

import inngest
from django.conf import settings

from .tracking import RunTrackingMiddleware


def _config() -> tuple[str, bool, str, str, str]:
    return (
        settings.INNGEST_APP_ID,
        settings.INNGEST_DEV,
        settings.INNGEST_BASE_URL,
        settings.INNGEST_EVENT_KEY,
        settings.INNGEST_SIGNING_KEY,
    )


@cache
def _build(config: tuple[str, bool, str, str, str]) -> inngest.Inngest:
    app_id, dev, base_url, event_key, signing_key = config
    return inngest.Inngest(
        app_id=app_id,
        is_production=not dev,
        api_base_url=base_url or None,
        event_api_base_url=base_url or None,
        event_key=event_key or None,
        signing_key=signing_key or None,
        logger=logging.getLogger("jobs.inngest"),
        # Run tracking (JobRun/StepAttempt) in one place, for every function and any Inngest server.
        middleware=[RunTrackingMiddleware],
    )


inngest_client = _build(_config())


def sending_client() -> inngest.Inngest:
    """The client for sending events under the current settings (tests point it at a fake event API)."""
    return _build(_config())
