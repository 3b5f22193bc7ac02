"""Asking the Inngest server to rerun a run: Inngest's REST API v2 `POST /runs/{run_id}/rerun`.

One new run of that run's function, with the original event; nothing else runs (docs/replay.md says what a rerun
passes and obeys). On Inngest Cloud it is `https://api.inngest.com/v2/runs/{id}/rerun` with the signing key as
Bearer; a self-hosted server, the dev server and the local engine serve it under `/api/v2` of their origin
(inngest/inngest proto/api/v2/service.proto, pkg/api/v2/README.md). The answer is `{"data": {"runId": ...}}`.
"""

from __future__ import annotations

import logging

import httpx
from django.conf import settings

from .cancel import INNGEST_CLOUD_API, _error_text, api_origin

logger = logging.getLogger(__name__)

RERUN_TIMEOUT_SECONDS = 10.0


class RerunError(Exception):
    """The server started no run; the message says why (its own error text where it gave one)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def rerun_url(run_id: str) -> str:
    origin = api_origin()
    prefix = "/v2" if origin == INNGEST_CLOUD_API else "/api/v2"
    return f"{origin}{prefix}/runs/{run_id}/rerun"


def run_rerun_request(*, run_id: str, timeout: float = RERUN_TIMEOUT_SECONDS) -> str:
    """Ask for one new run of `run_id`; returns its run id, or raises RerunError (4xx/5xx, unreachable, no id)."""
    headers = {"Accept": "application/json"}
    if settings.INNGEST_SIGNING_KEY and not settings.INNGEST_DEV:
        headers["Authorization"] = f"Bearer {settings.INNGEST_SIGNING_KEY}"
    try:
        response = httpx.post(rerun_url(run_id), json={}, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise RerunError(f"the Inngest server at {api_origin()} could not be reached: {error}") from error
    if response.status_code >= 400:
        raise RerunError(
            f"the Inngest server started no run: HTTP {response.status_code}: {_error_text(response)}",
            status=response.status_code,
        )
    try:
        new_run_id = response.json()["data"]["runId"]
    except (ValueError, KeyError, TypeError) as error:
        raise RerunError(f"the Inngest server answered without a run id: {response.text[:200]}") from error
    logger.info("run rerun requested", extra={"run_id": run_id, "new_run_id": new_run_id})
    return str(new_run_id)
