"""The shared policy's translation of provider errors into Inngest's RetryAfterError / NonRetriableError."""

from __future__ import annotations

import httpx2
import inngest
import openai
import pytest
from django.db import OperationalError
from django.utils import timezone

from crm_adapters.errors import (
    CrmAuthError,
    CrmConfigurationError,
    CrmConflict,
    CrmNotFound,
    CrmRateLimited,
    CrmTransientError,
    CrmValidationError,
)
from jobs.policy import FunctionCategory, PermanentJobError, policy_for, retry_decision
from jobs.steps import as_job_error
from tenants.errors import ContactNotFound

CRM = FunctionCategory.CRM
AI = FunctionCategory.AI


def delay_of(decision) -> float:
    assert isinstance(decision, inngest.RetryAfterError), decision
    return (decision.retry_after - timezone.now()).total_seconds()


def openai_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx2.Response(
        status, headers=headers or {}, request=httpx2.Request("POST", "http://ai.test/v1/chat/completions")
    )
    error_class = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        409: openai.ConflictError,
        422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }.get(status, openai.InternalServerError)
    return error_class(f"status {status}", response=response, body=None)


def test_a_crm_rate_limit_waits_the_crms_delay():
    assert delay_of(retry_decision(CRM, attempt=0, error=CrmRateLimited(retry_after=60))) == pytest.approx(60, abs=1)


def test_a_crm_rate_limit_without_a_delay_takes_the_backoff():
    decision = retry_decision(CRM, attempt=2, error=CrmRateLimited(retry_after=0))
    assert delay_of(decision) == pytest.approx(policy_for(CRM).backoff(2).total_seconds(), abs=1)


@pytest.mark.parametrize("attempt", [0, 1, 2, 3])
def test_a_transient_crm_error_backs_off_doubling(attempt):
    decision = retry_decision(CRM, attempt=attempt, error=CrmTransientError("503"))
    assert delay_of(decision) == pytest.approx(policy_for(CRM).backoff_base_seconds * 2**attempt, abs=1)


@pytest.mark.parametrize(
    "error",
    [
        CrmAuthError(status=401),
        CrmValidationError(field_errors=[{"field": "email", "message": "invalid"}], status=422),
        CrmNotFound(status=404),
        CrmConflict(status=412),
        CrmConfigurationError("no base URL"),
        PermanentJobError("no tenant"),
    ],
)
def test_permanent_errors_are_not_retried(error):
    assert isinstance(retry_decision(CRM, attempt=0, error=error), inngest.NonRetriableError)


def test_a_lost_database_connection_is_transient():
    decision = retry_decision(FunctionCategory.SCORING, attempt=1, error=OperationalError("server closed"))
    assert delay_of(decision) == pytest.approx(policy_for(FunctionCategory.SCORING).backoff(1).total_seconds(), abs=1)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_openai_client_errors_are_permanent(status):
    assert isinstance(retry_decision(AI, attempt=0, error=openai_error(status)), inngest.NonRetriableError)


@pytest.mark.parametrize("status", [409, 500, 502, 503])
def test_openai_server_errors_back_off(status):
    decision = retry_decision(AI, attempt=1, error=openai_error(status))
    assert delay_of(decision) == pytest.approx(policy_for(AI).backoff(1).total_seconds(), abs=1)


def test_openai_retry_after_ms_wins_over_retry_after():
    error = openai_error(429, {"retry-after-ms": "2500", "retry-after": "30"})
    assert delay_of(retry_decision(AI, attempt=0, error=error)) == pytest.approx(2.5, abs=1.0)


def test_the_backoff_is_capped(settings):
    settings.JOBS_POLICY = {"crm": {"backoff_base_seconds": 15, "backoff_cap_seconds": 100}}
    decision = retry_decision(CRM, attempt=10, error=CrmTransientError("down"))
    assert delay_of(decision) == pytest.approx(100, abs=1)


def test_the_tenants_apps_errors_fail_the_run_at_the_step_boundary():
    decision = retry_decision(CRM, attempt=0, error=as_job_error(ContactNotFound("contact 7 not found")))

    assert isinstance(decision, inngest.NonRetriableError)
    assert "ContactNotFound: contact 7 not found" in str(decision)


def test_a_builtin_lookup_error_is_not_taken_for_a_domain_error():
    bug = KeyError("tenantId")

    assert as_job_error(bug) is bug
    assert retry_decision(CRM, attempt=0, error=bug) is bug  # left to Inngest's own retries, and visible as a bug


def test_a_connection_that_times_out_is_transient():
    # e.g. an SMTP or database server that accepts no connection within its timeout (socket.timeout)
    decision = retry_decision(FunctionCategory.ALERT, attempt=1, error=TimeoutError("timed out"))
    assert delay_of(decision) == pytest.approx(policy_for(FunctionCategory.ALERT).backoff(1).total_seconds(), abs=1)
