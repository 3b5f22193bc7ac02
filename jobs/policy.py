"""The shared retry and concurrency policy, per function category, driven by settings.

Backoff doubles each retry: delay = base * 2**attempt, capped. It is applied by raising `RetryAfterError` with
that delay (or the provider's own delay when it gives one), which Inngest and the local engine both honour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

import inngest
from django.conf import settings

TENANT_KEY = "event.data.tenantId"


class FunctionCategory(StrEnum):
    AI = "ai"
    CRM = "crm"
    SCORING = "scoring"
    ALERT = "alert"
    ROUTING = "routing"  # light functions that only fan out events


@dataclass(frozen=True)
class CategoryPolicy:
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    tenant_concurrency: int

    @property
    def retries(self) -> int:
        """Inngest's `retries` is the number of retries after the first attempt."""
        return self.max_attempts - 1

    def backoff(self, attempt: int) -> timedelta:
        """Delay before the retry that follows the failed 0-based `attempt`: base * 2**attempt, capped."""
        seconds = min(self.backoff_base_seconds * math.pow(2, attempt), self.backoff_cap_seconds)
        return timedelta(seconds=seconds)


DEFAULTS: dict[FunctionCategory, CategoryPolicy] = {
    FunctionCategory.AI: CategoryPolicy(
        max_attempts=5, backoff_base_seconds=10, backoff_cap_seconds=600, tenant_concurrency=5
    ),
    FunctionCategory.CRM: CategoryPolicy(
        max_attempts=6, backoff_base_seconds=15, backoff_cap_seconds=1800, tenant_concurrency=3
    ),
    FunctionCategory.SCORING: CategoryPolicy(
        max_attempts=4, backoff_base_seconds=5, backoff_cap_seconds=300, tenant_concurrency=10
    ),
    FunctionCategory.ALERT: CategoryPolicy(
        max_attempts=5, backoff_base_seconds=5, backoff_cap_seconds=300, tenant_concurrency=10
    ),
    FunctionCategory.ROUTING: CategoryPolicy(
        max_attempts=4, backoff_base_seconds=5, backoff_cap_seconds=300, tenant_concurrency=10
    ),
}


def policy_for(category: FunctionCategory) -> CategoryPolicy:
    """The category's policy: the defaults above, overridden by `settings.JOBS_POLICY[category]`."""
    overrides = getattr(settings, "JOBS_POLICY", {}).get(str(category), {})
    return replace(DEFAULTS[category], **overrides)


def function_options(category: FunctionCategory) -> dict[str, object]:
    """The keyword arguments every function of a category passes to `create_function`."""
    policy = policy_for(category)
    return {
        "retries": policy.retries,
        "concurrency": [inngest.Concurrency(key=TENANT_KEY, limit=policy.tenant_concurrency)],
    }
