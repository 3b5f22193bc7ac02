"""A serve endpoint built by jobs.client with production settings (signing key), for the signature tests."""

from __future__ import annotations

from jobs.client import _build
from jobs.functions import ALL_FUNCTIONS
from jobs.serve import serve

SIGNING_KEY = "signkey-prod-" + "ab" * 32

production_client = _build(("nurturehub", False, "http://127.0.0.1:9", "event-key", SIGNING_KEY))
urlpatterns = [serve(production_client, ALL_FUNCTIONS)]
