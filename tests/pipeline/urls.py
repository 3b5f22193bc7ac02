"""What the end-to-end pipeline tests serve: the app's serve endpoint and the local engine's endpoints only."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
]
