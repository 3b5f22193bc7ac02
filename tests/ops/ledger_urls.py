"""The engine's endpoints and the ledger tests' functions behind the project's serve view (jobs/serve.py)."""

from __future__ import annotations

from django.urls import include, path

from jobs.client import inngest_client
from jobs.serve import serve

from .ledger_functions import (
    BENCH_PATH,
    LEDGER_FUNCTIONS,
    SERVE_PATH,
    SLEEPER_PATH,
    TRACKED_BENCH_PATH,
    bench_three,
    bench_tracker,
    sleeper,
)

urlpatterns = [
    path("", include("jobs.urls")),
    path("", include("jobs.engine.urls")),
    serve(inngest_client, LEDGER_FUNCTIONS, serve_path=SERVE_PATH),
    serve(inngest_client, [sleeper], serve_path=SLEEPER_PATH),
    serve(inngest_client, [bench_three], serve_path=BENCH_PATH),
    serve(inngest_client, [bench_three, bench_tracker], serve_path=TRACKED_BENCH_PATH),
]
