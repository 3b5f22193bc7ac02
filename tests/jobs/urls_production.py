"""A serve endpoint built by jobs.client with production settings (signing key), for the signature tests."""

from __future__ import annotations

import inngest.django

from jobs.client import _build
from jobs.functions import ALL_FUNCTIONS

SIGNING_KEY = "signkey-prod-" + "ab" * 32

production_client = _build(("nurturehub", False, "http://127.0.0.1:9", "event-key", SIGNING_KEY))
urlpatterns = [inngest.django.serve(production_client, ALL_FUNCTIONS)]
