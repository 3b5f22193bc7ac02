"""The engine's endpoints and a serve endpoint for the debounce, batching and ai.infer test functions."""

from __future__ import annotations

import inngest.django
from django.urls import include, path

from .delayed_functions import DELAYED_FUNCTIONS, DELAYED_SERVE_PATH, client

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    inngest.django.serve(client, DELAYED_FUNCTIONS, serve_path=DELAYED_SERVE_PATH),
]
