"""The error type an operator filters on is the underlying cause, not the policy's RetryAfterError wrapper."""

from __future__ import annotations

import httpx
import inngest
import openai

from crm_adapters.errors import CrmAuthError, CrmTransientError
from jobs.causes import cause_name, error_type_of, tag_with_cause
from jobs.policy import FunctionCategory, retry_decision


def translated(error: Exception, category: FunctionCategory = FunctionCategory.CRM) -> BaseException:
    """What jobs.steps.policy_step raises for `error`."""
    return tag_with_cause(retry_decision(category, attempt=0, error=error), error)


def refused_connection() -> CrmTransientError:
    """A CRM call to a port nobody listens on, translated as crm_adapters.client does (`from None`)."""
    try:
        try:
            httpx.get("http://127.0.0.1:1/", timeout=5)
        except httpx.TransportError:
            raise CrmTransientError("street: could not reach the CRM", provider="street") from None
    except CrmTransientError as error:
        return error
    raise AssertionError("port 1 answered")


def test_a_dead_crm_host_is_recorded_as_the_connect_error():
    decision = translated(refused_connection())

    assert isinstance(decision, inngest.RetryAfterError)
    assert error_type_of("RetryAfterError", str(decision)) == "httpx.ConnectError"


def test_an_expired_crm_token_is_recorded_as_crm_auth_error():
    decision = translated(CrmAuthError("401 from Street", provider="street", status=401))

    assert isinstance(decision, inngest.NonRetriableError)
    assert error_type_of("NonRetriableError", str(decision)) == "CrmAuthError"


def test_the_ai_providers_503_is_recorded_as_openais_status_error():
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    error = openai.InternalServerError("Service Unavailable", response=httpx.Response(503, request=request), body=None)

    decision = translated(error, FunctionCategory.AI)

    assert cause_name(error) == "openai.InternalServerError"
    assert error_type_of("RetryAfterError", str(decision)) == "openai.InternalServerError"


def test_tagging_twice_names_the_cause_once():
    error = CrmAuthError("401", provider="street", status=401)
    decision = translated(error)
    tag_with_cause(decision, error)
    assert str(decision).count("CrmAuthError: ") == 1


def test_errors_that_are_not_wrappers_keep_their_own_name():
    assert error_type_of("TenantPaused", "TenantPaused: acme is paused") == "TenantPaused"
    assert error_type_of("NonRetriableError", "tenant 1 does not exist") == "NonRetriableError"
