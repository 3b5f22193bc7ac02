"""The admin, the engine's endpoints and the three test apps (gates, delayed, pauses): the flow-control page's test."""

from __future__ import annotations

import inngest.django
from django.contrib import admin
from django.urls import include, path

from . import delayed_functions, functions, gate_functions
from .pause_functions import PAUSE_FUNCTIONS

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    inngest.django.serve(gate_functions.client, gate_functions.GATE_FUNCTIONS, serve_path=gate_functions.GATES_PATH),
    inngest.django.serve(
        delayed_functions.client, delayed_functions.DELAYED_FUNCTIONS, serve_path=delayed_functions.DELAYED_SERVE_PATH
    ),
    inngest.django.serve(functions.client, PAUSE_FUNCTIONS, serve_path=functions.SERVE_PATH),
]
