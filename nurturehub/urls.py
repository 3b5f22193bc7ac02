from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from nurturehub.health import healthz, readyz

from .api_docs import OfflineRedocView, redoc_bundle

# The machine endpoints come first: every step request (`api/inngest`) and, on the local engine, every event sent
# (`e/<key>`) is resolved here, and Django tries the patterns in order. Behind the API's routers they cost about
# 60 us each to resolve (all of them tried and failed first); first, a few. No pattern of theirs overlaps another.
urlpatterns = [path("", include("jobs.urls"))]
if settings.LOCAL_ENGINE_ENABLED and "jobs.engine" in settings.INSTALLED_APPS:
    # The local engine's Inngest-server endpoints live at the origin root: the SDK drops any path prefix.
    urlpatterns.append(path("", include("jobs.engine.urls")))

urlpatterns += [
    # Probes: unauthenticated, nothing sensitive (nurturehub/health.py).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("nurturehub.api_urls")),
    # API docs pages (assets from drf-spectacular-sidecar, served by the project): Swagger UI and Redoc, the
    # latter with no outside request (nurturehub/api_docs.py).
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", OfflineRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/redoc/redoc.standalone.js", redoc_bundle, name="api-redoc-bundle"),
    path("", include("jobs.metrics")),
]
