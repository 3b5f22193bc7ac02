"""The Inngest server's HTTP side that the SDK calls: event intake, function registration, cancelling a run.

Mounted at the web origin's root (the SDK drops any path prefix). Every bad request gets a 4xx with a message
that says what was wrong, and stores nothing: bodies and ids are read through request_checks.py, one layer for
every endpoint (UTF-8, JSON depth, NUL and lone surrogates, NaN and out-of-range numbers, printable ids).
"""

from __future__ import annotations

import hmac
import logging
import uuid

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .auth import UNAUTHORIZED, signing_key_matches, signing_key_required
from .protocol import MAX_EVENT_BODY_BYTES, ProtocolError, datetime_to_ms, parse_event_batch
from .registry import app_register
from .request_checks import check_value, checked_id, read_json
from .selectors import run_events, run_memos
from .services.endings import RunAlreadyFinished, RunNotFound, run_cancel
from .services.intake import events_ingest

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def event_intake(request: HttpRequest, event_key: str) -> JsonResponse:
    """`POST /e/<key>`: a JSON array of events; answers `{"ids": [...], "status": 200}` like Inngest."""
    expected_key = settings.INNGEST_EVENT_KEY
    if expected_key and not hmac.compare_digest(event_key.encode(), expected_key.encode()):
        return _intake_error(401, "unknown event key")
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_EVENT_BODY_BYTES:
        return _intake_error(413, f"request body is {length} bytes; the limit is {MAX_EVENT_BODY_BYTES} bytes (64 MiB)")
    try:
        # read(), not .body: Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) would refuse a request of a few events
        # the dev server accepts; the size rules are parse_event_batch's.
        events = parse_event_batch(request.read(MAX_EVENT_BODY_BYTES + 1), now_ms=datetime_to_ms(timezone.now()))
    except ProtocolError as error:
        status = 413 if "limit is" in str(error) else 400
        return _intake_error(status, str(error))
    ids = events_ingest(events=events, seed=request.headers.get("x-inngest-event-id-seed"))
    return JsonResponse({"ids": ids, "status": 200})


def _intake_error(status: int, message: str) -> JsonResponse:
    logger.warning("event intake rejected", extra={"status": status, "error": message})
    return JsonResponse({"ids": [], "status": status, "error": message}, status=status)


@csrf_exempt
@require_POST
def function_register(request: HttpRequest) -> JsonResponse:
    """`POST /fn/register`: store the app's functions; answers as Inngest's dev server does."""
    if not signing_key_matches(request):
        return _register_error(UNAUTHORIZED, status=401)
    try:
        body = read_json(request.body, what="register body")
        check_value(body, where="register body")
        result = app_register(body=body)
    except ProtocolError as error:
        logger.warning("sync rejected", extra={"error": str(error)})
        return _register_error(str(error))
    logger.info("app synced", extra={"app": result.app.name, "modified": result.modified})
    return JsonResponse(
        {"ok": True, "modified": result.modified, "app_id": str(result.app.id), "sync_id": str(uuid.uuid4())}
    )


def _register_error(message: str, status: int = 400) -> JsonResponse:
    """Inngest's public error body (pkg/publicerr/publicerr.go WriteHTTP): `error` and `status`.

    inngest-js judges a sync by the body's `status`; without it a refused sync was reported as a success.
    """
    return JsonResponse({"error": message, "status": status}, status=status)


@csrf_exempt
@require_http_methods(["DELETE"])
@signing_key_required
def run_cancel_view(request: HttpRequest, run_id: str) -> JsonResponse:
    """`DELETE /v1/runs/<run_id>`: cancel a run (Inngest's REST API); 404 unknown, 409 already finished."""
    try:
        run = run_cancel(run_id=checked_id(run_id, what="run id"))
    except ProtocolError as error:
        return JsonResponse({"error": str(error)}, status=400)
    except RunNotFound as error:
        return JsonResponse({"error": str(error)}, status=404)
    except RunAlreadyFinished as error:
        return JsonResponse({"error": str(error), "status": error.status}, status=409)
    return JsonResponse({"data": {"run_id": run.run_id, "status": run.status}})


@require_GET
@signing_key_required
def run_batch_view(request: HttpRequest, run_id: str) -> JsonResponse:
    """`GET /v0/runs/<run_id>/batch`: the run's events, for an SDK sent a request with `use_api` (too large)."""
    try:
        events = run_events(checked_id(run_id, what="run id"))
    except ProtocolError as error:
        return JsonResponse({"error": str(error)}, status=400)
    if events is None:
        return JsonResponse({"error": f"no run with id {run_id!r}"}, status=404)
    return JsonResponse(events, safe=False)


@require_GET
@signing_key_required
def run_actions_view(request: HttpRequest, run_id: str) -> JsonResponse:
    """`GET /v0/runs/<run_id>/actions`: the run's memos by hashed step id (see run_batch_view)."""
    try:
        memos = run_memos(checked_id(run_id, what="run id"))
    except ProtocolError as error:
        return JsonResponse({"error": str(error)}, status=400)
    if memos is None:
        return JsonResponse({"error": f"no run with id {run_id!r}"}, status=404)
    return JsonResponse(memos)
