from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("nurturehub.api_urls")),
    path("", include("jobs.metrics")),
    path("", include("jobs.urls")),
]

if settings.LOCAL_ENGINE_ENABLED and "jobs.engine" in settings.INSTALLED_APPS:
    # The local engine's Inngest-server endpoints live at the origin root: the SDK drops any path prefix.
    urlpatterns.append(path("", include("jobs.engine.urls")))
