"""The Redoc page with no outside request, for offline deployments.

drf-spectacular's Redoc page links Google Fonts, and Redoc's bundle (drf-spectacular-sidecar's copy, served by the
project) shows Redocly's logo from cdn.redoc.ly in its sidebar. The page here drops the font links
(templates/api_docs/redoc.html), and its bundle is the sidecar's with that one URL replaced by an empty inline
image, served from here: nothing else in the bundle is fetched.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularRedocView

SIDECAR_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
OUTSIDE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


class OfflineRedocView(SpectacularRedocView):
    template_name = "api_docs/redoc.html"

    @staticmethod
    def _redoc_standalone() -> str:
        return reverse("api-redoc-bundle")


@lru_cache(maxsize=1)
def _offline_bundle() -> bytes:
    return Path(finders.find(SIDECAR_BUNDLE)).read_bytes().replace(OUTSIDE_LOGO, EMPTY_IMAGE)


@require_GET
@cache_control(public=True, max_age=86400)
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """Redoc's bundle without its one outside URL (the logo)."""
    return HttpResponse(_offline_bundle(), content_type="application/javascript")
