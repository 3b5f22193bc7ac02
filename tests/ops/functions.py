"""Test-only functions declared like the app's (`job_function`), served on their own path by tests/ops/urls.py."""

from __future__ import annotations

from datetime import timedelta

import inngest

from jobs.events import ContactCategoryAssigned
from jobs.functions.base import job_function
from jobs.policy import FunctionCategory

SERVE_PATH = "/api/ops-test-inngest"
ATTEMPTS_SEEN: list[int] = []


@job_function(fn_id="ops-test-rate-limited", event=ContactCategoryAssigned, category=FunctionCategory.CRM)
def rate_limited(ctx: inngest.ContextSync, event: ContactCategoryAssigned) -> dict[str, str]:
    """A step that is told to wait (as a CRM 429 is), then succeeds."""

    def call_crm() -> str:
        ATTEMPTS_SEEN.append(ctx.attempt)
        if ctx.attempt == 0:
            raise inngest.RetryAfterError("CRM says: slow down", timedelta(seconds=42))
        return "pushed"

    return {"result": ctx.step.run("push-contact", call_crm)}


FUNCTIONS = [rate_limited]
