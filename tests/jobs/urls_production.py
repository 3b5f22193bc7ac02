"""A serve endpoint built by jobs.client with production settings (signing key), for the signature tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import jcs

from jobs.client import _build
from jobs.functions import ALL_FUNCTIONS
from jobs.serve import serve

SIGNING_KEY = "signkey-prod-" + "ab" * 32

production_client = _build(("nurturehub", False, "http://127.0.0.1:9", "event-key", SIGNING_KEY))
urlpatterns = [serve(production_client, ALL_FUNCTIONS)]


def call_body(*, step_id: str = "step") -> bytes:
    """A step call to contact-category-assigned with an empty payload (the function refuses it, never retries);
    like Inngest's, its `ctx` names the step it calls."""
    return json.dumps(
        {
            "event": {"name": "contact/category.assigned", "data": {}, "id": "x", "ts": 1},
            "events": [],
            "steps": {},
            "ctx": {
                "run_id": "r",
                "step_id": step_id,
                "attempt": 0,
                "disable_immediate_execution": False,
                "stack": {"stack": []},
            },
            "use_api": False,
        }
    ).encode()


def sign(body: bytes, *, key: str = SIGNING_KEY, timestamp: str | None = "now") -> str:
    """`X-Inngest-Signature` as Inngest signs (HMAC of the canonical body followed by t), for any t ("now" by
    default, None for none); as the SDK verifies it, a t of 0 is left out of the MAC."""
    if timestamp == "now":
        timestamp = str(int(time.time()))
    canonical = jcs.canonicalize(json.loads(body))
    raw_key = key.split("-", 2)[2].encode()
    folded = "" if timestamp in (None, "0") else timestamp
    mac = hmac.new(raw_key, canonical + folded.encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp}&s={mac}" if timestamp is not None else f"s={mac}"
