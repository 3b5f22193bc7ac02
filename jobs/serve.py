"""The serve endpoint (`/api/inngest`) with the signature checks the SDK leaves out: age and replay.

How Inngest signs a request to the serve endpoint: `X-Inngest-Signature: t=<unix seconds>&s=<hex>`, where `s`
is HMAC-SHA256, keyed with the signing key, of the (canonical JSON) body followed by `t`. Inngest's own
TypeScript SDK also refuses a signature whose `t` is more than 5 minutes old. The Python SDK (0.5.19) checks the
HMAC only: it folds `t` into the MAC without looking at its age, and accepts a header without `t` at all, so a
captured request could be sent again at any time, as often as wished, and run its step each time.

In production (`INNGEST_DEV=false`) this view therefore refuses, with 401 and before the SDK runs anything:
- a POST without a signature, or one without a whole-number `t`;
- a `t` more than `MAX_SIGNATURE_AGE` in the past or in the future (a clock skew of that much is a fault too);
- a request whose signed content (canonical body and `t`) was seen before: a replay inside the window, however
  its URL, its signature header or its body's JSON is spelled.
The HMAC itself is still the SDK's to verify. In development nothing is signed and nothing is checked.

Where the local engine runs, a step request also carries the engine's fence (`X-Engine-Fence`): it is checked
first, in dev and production alike, and a stale request is refused with 409 before the SDK runs anything
(`engine_fence_refusal`). Inngest Cloud sends no fence: nothing is checked there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from datetime import datetime, timedelta
from typing import Any

import inngest
import inngest.django
import jcs
from django.apps import apps
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import SignedRequestSeen
from .tracking import ENGINE_STEP_HEADER, EXECUTING_STEP_ATTR

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Inngest-Signature"
#: The local engine's fence on a step request (jobs/engine/fence.py); Inngest sends no such header.
FENCE_HEADER = "X-Engine-Fence"
#: Inngest's own limit (its TypeScript SDK's): an older signature is refused.
MAX_SIGNATURE_AGE = timedelta(minutes=5)


class SignatureRefused(Exception):
    """Why a signed request is refused (the message is returned in the 401's body)."""


def check_fresh_and_first(request: HttpRequest) -> str | None:
    """Raise SignatureRefused unless the request's signature is fresh and not seen before; remember it and
    return its digest (None for an unsigned GET or PUT)."""
    header = request.headers.get(SIGNATURE_HEADER)
    if header is None:
        if request.method in ("GET", "PUT"):
            return None  # introspection and sync: the SDK decides what an unsigned one gets (no step runs)
        raise SignatureRefused(f"{SIGNATURE_HEADER} is required")
    stamps = urllib.parse.parse_qs(header).get("t", [])
    try:
        signed_at = int(stamps[0])
    except (IndexError, ValueError):
        raise SignatureRefused(f"{SIGNATURE_HEADER} has no timestamp (t=<unix seconds>)") from None
    now = timezone.now()
    age, limit = now.timestamp() - signed_at, MAX_SIGNATURE_AGE.total_seconds()
    if age > limit:
        raise SignatureRefused(f"the signature is more than {limit:.0f} s old")
    if -age > limit:
        raise SignatureRefused(f"the signature is dated more than {limit:.0f} s ahead")
    digest = signed_content_digest(request.body, signed_at)
    try:
        with transaction.atomic():
            SignedRequestSeen.objects.create(digest=digest, seen_at=now)
    except IntegrityError:
        raise SignatureRefused("this signed request was already received (replay)") from None
    return digest


def signed_content_digest(body: bytes, signed_at: int) -> str:
    """The replay key: a digest of exactly what the signature covers, so that no re-spelling of a captured request
    (query order or extra parameters, the header's field order, spacing, extra fields or hex case, `t=0123`, the
    body's key order or spacing) counts as a new one.

    The SDK verifies the HMAC of the body's canonical JSON (RFC 8785, `jcs`) followed by `str(int(t))` (inngest-py
    `net.validate_request_sig` and `_validate_sig`), so those two values, and nothing else, make a request the
    same. The URL is not signed; the step a call is for is (Inngest's body carries `ctx.step_id`)."""
    if not body:
        canonical = b""
    else:
        try:
            canonical = jcs.canonicalize(json.loads(body))
        except (ValueError, TypeError, RecursionError, OverflowError):
            raise SignatureRefused("the body is not JSON, so its signature cannot be verified") from None
    content = hashlib.sha256(canonical)
    content.update(b"\n" + str(signed_at).encode())
    return content.hexdigest()


def forget_stale_signatures(*, now: datetime | None = None) -> int:
    """Delete the replay records older than the signature lifetime (a request that old is refused anyway)."""
    cutoff = (now or timezone.now()) - 2 * MAX_SIGNATURE_AGE
    deleted, _ = SignedRequestSeen.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


def engine_fence_refusal(request: HttpRequest) -> HttpResponse | None:
    """The local engine's fence: refuse a stale step request before the SDK runs its step (None: go on).

    The engine checks the fence against its queue item in this database (one read), reached through the app
    registry (`EngineConfig.fence_refusal`), as the run page's timeline reaches the engine. A request without the
    header (Inngest Cloud's) is not checked. A refusal is 409 with the header's value `refused`, which the
    dispatcher takes as "not run": nothing stored, nothing retried.
    """
    fence = request.headers.get(FENCE_HEADER)
    if fence is None or request.method != "POST":
        return None
    if not apps.is_installed("jobs.engine"):
        error = f"{FENCE_HEADER} comes from the local engine, which is not enabled here (LOCAL_ENGINE_ENABLED)"
        return JsonResponse({"error": error, "code": "engine_fence_invalid"}, status=400)
    step_id = request.GET.get("stepId", "")
    try:
        refused = apps.get_app_config("engine").fence_refusal(fence, step_id=step_id)
    except ValueError as invalid:
        return JsonResponse({"error": str(invalid), "code": "engine_fence_invalid"}, status=400)
    if refused is None:
        return None
    logger.warning("step request refused by the engine's fence", extra={"fence": fence, "step_id": step_id})
    return JsonResponse(
        {"error": refused, "code": "engine_fence_refused"}, status=409, headers={FENCE_HEADER: "refused"}
    )


def serve(client: inngest.Inngest, functions: list[Any], **sdk_options: Any) -> URLPattern:
    """The SDK's Django serve URL pattern (`sdk_options` go to `inngest.django.serve`), behind the engine's fence
    and, when the client is in production mode, the freshness and replay checks."""
    sdk_pattern = inngest.django.serve(client, functions, **sdk_options)
    sdk_view = sdk_pattern.callback
    checked = client.is_production

    @csrf_exempt
    def inngest_api(request: HttpRequest) -> HttpResponse:
        fenced = engine_fence_refusal(request)
        if fenced is not None:
            return fenced
        if not checked:
            return _named_step(request, sdk_view(request))
        try:
            digest = check_fresh_and_first(request)
        except SignatureRefused as refused:
            return JsonResponse({"error": str(refused), "code": "sig_verification_failed"}, status=401)
        response = sdk_view(request)
        if response.status_code == 401 and digest is not None:
            # The SDK found the HMAC wrong: a forgery proves nothing about the real request, so keep no trace.
            SignedRequestSeen.objects.filter(digest=digest).delete()
        return _named_step(request, response)

    return path(str(sdk_pattern.pattern), inngest_api)


def _named_step(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """For the local engine: the step a function-level error came from, as the run tracking middleware saw it
    (jobs/tracking.py), in the engine's own response header; the engine's trace and ledger name the attempt by it."""
    step = getattr(request, EXECUTING_STEP_ATTR, None)
    if step and step.isascii() and step.isprintable():
        response[ENGINE_STEP_HEADER] = step
    return response
