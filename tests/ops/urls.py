"""The app's serve endpoint, the local engine's endpoints, and the test-only functions on a serve path of their own."""

from __future__ import annotations

from django.urls import include, path

from jobs.client import inngest_client
from jobs.serve import serve

from .functions import FUNCTIONS, SERVE_PATH

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    serve(inngest_client, FUNCTIONS, serve_path=SERVE_PATH),
]
