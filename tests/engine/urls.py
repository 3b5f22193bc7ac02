"""The serve endpoint, the engine's endpoints, and a serve endpoint for the test-only functions on its own path.

Only what the engine talks to (not the whole project's URLs), so other areas' URL changes cannot break these tests.
"""

from __future__ import annotations

import inngest.django
from django.urls import include, path

from .capacity_functions import CAPACITY_FUNCTIONS
from .fault_functions import FAULT_FUNCTIONS
from .functions import FUNCTIONS, SERVE_PATH, client
from .pause_functions import PAUSE_FUNCTIONS

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    inngest.django.serve(
        client, FUNCTIONS + CAPACITY_FUNCTIONS + PAUSE_FUNCTIONS + FAULT_FUNCTIONS, serve_path=SERVE_PATH
    ),
]
