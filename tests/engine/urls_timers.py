"""The engine's endpoints and the timer benchmark's functions (bench/timers.py, timer_functions.py)."""

from __future__ import annotations

import inngest.django
from django.urls import include, path

from .timer_functions import TIMER_FUNCTIONS, TIMERS_SERVE_PATH, client

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    inngest.django.serve(client, TIMER_FUNCTIONS, serve_path=TIMERS_SERVE_PATH),
]
