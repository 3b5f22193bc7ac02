"""The shared retry and concurrency policy, per function category, driven by settings.

Backoff doubles each retry: delay = base * 2**attempt, capped. It is applied by raising `RetryAfterError` with
that delay (or the provider's own delay when it gives one), which Inngest and the local engine both honour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from smtplib import SMTPException

import inngest
import openai
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from crm_adapters.errors import CrmError, CrmRateLimited
from nurturehub.retry_after import retry_after_seconds

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
    overrides = settings.JOBS_POLICY.get(str(category), {})
    return replace(DEFAULTS[category], **overrides)


def function_options(category: FunctionCategory) -> dict[str, object]:
    """The keyword arguments every function of a category passes to `create_function`."""
    policy = policy_for(category)
    return {
        "retries": policy.retries,
        "concurrency": [inngest.Concurrency(key=TENANT_KEY, limit=policy.tenant_concurrency)],
    }


# --- Translating errors into the policy -------------------------------------------------------------------
# Steps raise whatever their library raises; `retry_decision` turns it into what Inngest understands: a
# `RetryAfterError` with the policy's doubling delay (or the provider's own delay), or a `NonRetriableError`.
# Errors it does not know are returned unchanged: Inngest retries them on its own fixed table, which is why
# every step of ours goes through `jobs.steps.policy_step`, so a known error never takes that road.


class TransientJobError(Exception):
    """Worth retrying after the policy's backoff (e.g. malformed AI output that a second try may fix)."""


class PermanentJobError(Exception):
    """Retrying cannot help (bad input, missing row): fail the run now."""


def retry_after(
    category: FunctionCategory, *, attempt: int, message: str, provider_delay: timedelta | None = None
) -> inngest.RetryAfterError:
    """A retry at the provider's delay when it gave one, else at the policy's doubling backoff for `attempt`."""
    delay = provider_delay if provider_delay is not None else policy_for(category).backoff(attempt)
    # Inngest clamps retry-after to at least 1 s; the floor here only guards against a zero or negative delay.
    delay = max(delay, timedelta(milliseconds=1))
    return inngest.RetryAfterError(f"{message} (retry in {delay.total_seconds():.3f}s)", timezone.now() + delay)


def openai_retry_delay(error: openai.APIStatusError) -> timedelta | None:
    """The server's own delay from `retry-after-ms` or `retry-after` (seconds or an HTTP date), when given."""
    headers = error.response.headers
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return timedelta(milliseconds=float(milliseconds))
        except (ValueError, OverflowError):  # not a number, NaN or infinite: read retry-after instead
            pass
    seconds = retry_after_seconds(headers.get("retry-after"))
    return None if seconds is None else timedelta(seconds=seconds)


# OpenAI statuses that no retry can fix: the request or the credentials are wrong.
_OPENAI_PERMANENT = (
    openai.BadRequestError,
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
    openai.ContentFilterFinishReasonError,
)


def retry_decision(category: FunctionCategory, *, attempt: int, error: Exception) -> BaseException:
    """What to raise for `error` under the category's policy: RetryAfterError, NonRetriableError, or the error."""
    if isinstance(error, inngest.RetryAfterError | inngest.NonRetriableError):
        return error
    if isinstance(error, PermanentJobError | ValidationError):
        # A missing row or invalid data is the same on every attempt (`jobs.steps` maps the apps' domain errors
        # to PermanentJobError at the step boundary, so this module knows no app's errors but the CRMs').
        return inngest.NonRetriableError(f"{type(error).__name__}: {error}")
    if isinstance(
        error, TransientJobError | OperationalError | InterfaceError | SMTPException | ConnectionError | TimeoutError
    ):
        # A lost database connection, an SMTP server hanging up or not answering within EMAIL_TIMEOUT: transient,
        # under the category's backoff.
        return retry_after(category, attempt=attempt, message=f"{type(error).__name__}: {error}")
    if isinstance(error, openai.OpenAIError):
        return _openai_decision(category, attempt=attempt, error=error)
    crm_decision = _crm_decision(category, attempt=attempt, error=error)
    if crm_decision is not None:
        return crm_decision
    return error


def _openai_decision(category: FunctionCategory, *, attempt: int, error: openai.OpenAIError) -> BaseException:
    name = type(error).__name__
    if isinstance(error, openai.RateLimitError):
        return retry_after(
            category, attempt=attempt, message=f"AI rate limited ({name})", provider_delay=openai_retry_delay(error)
        )
    if isinstance(error, _OPENAI_PERMANENT):
        status = getattr(error, "status_code", None)
        return inngest.NonRetriableError(f"AI request refused permanently ({name}, status {status}): {error}")
    # 5xx, 409, timeouts, dropped connections, truncated output: transient by nature.
    return retry_after(category, attempt=attempt, message=f"AI call failed ({name}): {error}")


def _crm_decision(category: FunctionCategory, *, attempt: int, error: Exception) -> BaseException | None:
    """CRM errors (crm_adapters.errors): rate limits wait the CRM's delay, transient ones back off, others stop."""
    if not isinstance(error, CrmError):
        return None
    name = type(error).__name__
    if isinstance(error, CrmRateLimited):
        # The adapters give Retry-After, or the CRM's documented wait when there is none; 0 leaves it to the backoff.
        delay = timedelta(seconds=error.retry_after) if error.retry_after > 0 else None
        return retry_after(category, attempt=attempt, message=f"CRM rate limited ({name})", provider_delay=delay)
    if error.retryable:
        return retry_after(category, attempt=attempt, message=f"CRM call failed ({name}): {error}")
    return inngest.NonRetriableError(f"CRM refused permanently ({name}, status {error.status}): {error}")
