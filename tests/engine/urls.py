"""The project's URLs plus a serve endpoint for the test-only functions (its own path, its own app id)."""

from __future__ import annotations

import inngest.django

from nurturehub.urls import urlpatterns as project_urlpatterns

from .functions import FUNCTIONS, SERVE_PATH, client

urlpatterns = [*project_urlpatterns, inngest.django.serve(client, FUNCTIONS, serve_path=SERVE_PATH)]
