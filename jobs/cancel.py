"""Cancelling a run through the Inngest server's REST API (`DELETE /v1/runs/{run_id}`), then marking its JobRun.

Works the same with Inngest Cloud, a self-hosted server or the local engine: it is plain HTTP to the server at
settings.INNGEST_BASE_URL (Inngest Cloud's API when empty), with the signing key as Bearer outside dev mode.
A step the app is already executing finishes; nothing follows it.
"""

from __future__ import annotations

import logging

import httpx
from django.conf import settings
from django.utils import timezone

from . import traces
from .models import JobRun
from .tracking import TERMINAL

logger = logging.getLogger(__name__)

INNGEST_CLOUD_API = "https://api.inngest.com"
CANCEL_TIMEOUT_SECONDS = 10.0


class CancelError(Exception):
    """The server did not cancel the run; the message says why (its own error text where it gave one)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_origin() -> str:
    """Where the REST API is: our configured Inngest server, or Inngest Cloud when none is set."""
    return (settings.INNGEST_BASE_URL or INNGEST_CLOUD_API).rstrip("/")


def run_cancel_request(*, run_id: str, timeout: float = CANCEL_TIMEOUT_SECONDS) -> None:
    """Ask the Inngest server to cancel one run; raises CancelError on 4xx/5xx or when it cannot be reached."""
    headers = {"Accept": "application/json"}
    if settings.INNGEST_SIGNING_KEY and not settings.INNGEST_DEV:
        headers["Authorization"] = f"Bearer {settings.INNGEST_SIGNING_KEY}"
    url = f"{api_origin()}/v1/runs/{run_id}"
    try:
        response = httpx.delete(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise CancelError(f"the Inngest server at {api_origin()} could not be reached: {error}") from error
    if response.status_code >= 400:
        raise CancelError(
            f"the Inngest server refused to cancel run {run_id}: HTTP {response.status_code}: {_error_text(response)}",
            status=response.status_code,
        )
    logger.info("run cancel requested", extra={"run_id": run_id, "status": response.status_code})


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:500]


def jobrun_cancel(*, run: JobRun) -> JobRun:
    """Cancel a run that has not finished: on the server first, then mark its JobRun `cancelled` (finished now)."""
    if run.status in TERMINAL:
        raise CancelError(f"run {run.run_id} already {run.status}; only running or retrying runs can be cancelled")
    run_cancel_request(run_id=run.run_id)
    now = timezone.now()
    # The local engine's ledger (jobs/ledger.py) may have marked it already, in the cancel's own transaction: the
    # run's span is then its, so it is traced once.
    marked = (
        JobRun.objects.filter(pk=run.pk)
        .exclude(status__in=TERMINAL)
        .update(status=JobRun.Status.CANCELLED, finished_at=now, updated_at=now)
    )
    run.status, run.finished_at = JobRun.Status.CANCELLED, now
    if marked:
        traces.run_finished(run, outcome=JobRun.Status.CANCELLED, finished_at=now)
    else:
        run.refresh_from_db(fields=["status", "finished_at"])
    return run
