from __future__ import annotations

import inngest.django
from django.urls import include, path

from jobs.client import inngest_client

from .functions import FUNCTIONS, SERVE_PATH

urlpatterns = [
    path("", include("jobs.urls")),
    inngest.django.serve(inngest_client, FUNCTIONS, serve_path=SERVE_PATH),
]
