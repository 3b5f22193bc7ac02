"""The serve endpoint, the engine's endpoints, and a serve endpoint for the test-only functions on its own path.

Only what the engine talks to (not the whole project's URLs), so other areas' URL changes cannot break these tests.
The test functions are also served on a second path behind `WEB_QUEUE` (fence_functions.py), which holds the first
step request of each run at the door, as a web server's queue would; a test syncs that path to route through it.
"""

from __future__ import annotations

from django.urls import include, path

from jobs.serve import serve

from .capacity_functions import CAPACITY_FUNCTIONS
from .fault_functions import FAULT_FUNCTIONS
from .fence_functions import FENCE_FUNCTIONS, WEB_QUEUE
from .functions import FUNCTIONS, GATED_SERVE_PATH, SERVE_PATH, client
from .pause_functions import PAUSE_FUNCTIONS

TEST_FUNCTIONS = FUNCTIONS + CAPACITY_FUNCTIONS + PAUSE_FUNCTIONS + FAULT_FUNCTIONS + FENCE_FUNCTIONS
# Through the project's serve view, so that every engine test's step requests pass the engine's fence.
_gated = serve(client, TEST_FUNCTIONS, serve_path=GATED_SERVE_PATH)

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    serve(client, TEST_FUNCTIONS, serve_path=SERVE_PATH),
    path(str(_gated.pattern), WEB_QUEUE.wrap(_gated.callback)),
]
