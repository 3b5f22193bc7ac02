"""The engine's endpoints and the flow-control test functions' serve endpoint (their own app and path)."""

from __future__ import annotations

import inngest.django
from django.urls import include, path

from .gate_functions import GATE_FUNCTIONS, GATES_PATH, client

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    inngest.django.serve(client, GATE_FUNCTIONS, serve_path=GATES_PATH),
]
