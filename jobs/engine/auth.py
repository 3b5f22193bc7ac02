"""The one signing-key check of the engine's HTTP side (REST API, GraphQL, sync, the SDK's large-request API)."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .protocol import hashed_signing_key

UNAUTHORIZED = "unauthorized: the signing key does not match"


def signing_key_matches(request: HttpRequest) -> bool:
    """Dev mode needs no key; otherwise the Bearer is the signing key, raw (REST API) or hashed (the SDK's sync)."""
    signing_key = settings.INNGEST_SIGNING_KEY
    if not signing_key or settings.INNGEST_DEV:
        return True
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip().encode()
    return any(hmac.compare_digest(token, key.encode()) for key in (signing_key, hashed_signing_key(signing_key)))


def signing_key_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The view answers 401 `{"error": ...}` (Inngest's REST error body) unless the request holds the key."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not signing_key_matches(request):
            return JsonResponse({"error": UNAUTHORIZED}, status=401)
        return view(request, *args, **kwargs)

    return checked
