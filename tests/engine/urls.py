"""The serve endpoint, the engine's endpoints, and a serve endpoint for the test-only functions on its own path.

Only what the engine talks to (not the whole project's URLs), so other areas' URL changes cannot break these tests.
The test functions are also served on a second path behind `web_queue_gate` (fence_functions.py), which holds the
first step requests of each run at the door, as a web server's queue would, when the server's environment names a
`WEB_QUEUE_DIR`; a test syncs that path to route through it.
"""

from __future__ import annotations

from django.urls import include, path

from jobs.serve import serve

from .capacity_functions import CAPACITY_FUNCTIONS
from .fault_functions import FAULT_FUNCTIONS
from .fence_functions import FENCE_FUNCTIONS, web_queue_gate
from .functions import FUNCTIONS, GATED_SERVE_PATH, SERVE_PATH, client
from .pause_functions import PAUSE_FUNCTIONS

TEST_FUNCTIONS = FUNCTIONS + CAPACITY_FUNCTIONS + PAUSE_FUNCTIONS + FAULT_FUNCTIONS + FENCE_FUNCTIONS
# Through the project's serve view, so that every engine test's step requests pass the engine's fence.
_gated = serve(client, TEST_FUNCTIONS, serve_path=GATED_SERVE_PATH)

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    serve(client, TEST_FUNCTIONS, serve_path=SERVE_PATH),
    path(str(_gated.pattern), web_queue_gate(_gated.callback)),
]
