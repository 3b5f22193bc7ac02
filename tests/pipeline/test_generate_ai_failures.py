"""nurture/sequence.generate when the AI provider fails: rate limits, server errors, refusals, malformed or slow
answers, each under the AI policy (retry-after, 10 s doubling backoff capped, 5 attempts), through the local engine."""

from __future__ import annotations

import pytest

from jobs.policy import FunctionCategory, policy_for
from tenants.models import NurtureSequence
from tests.fakes.openai_server import Scripted
from tests.pipeline.generation import FN, generate_event

pytestmark = pytest.mark.django_db(transaction=True)


def test_rate_limit_retries_at_the_servers_retry_after_ms(pipeline, tenant, seller, openai_server):
    openai_server.then(Scripted("rate_limit", retry_after_ms="1500"))

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "completed"
    assert len(run.failures) == 1
    assert run.failures[0].retry_after_seconds == pytest.approx(1.5, abs=1.0)
    assert len(openai_server.requests) == 2  # the client's own retries are off: every try is a step attempt
    assert NurtureSequence.objects.filter(contact=seller).count() == 1


def test_rate_limit_retries_at_the_servers_retry_after_seconds(pipeline, tenant, seller, openai_server):
    openai_server.then(Scripted("rate_limit", retry_after="7"))

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "completed"
    assert run.failures[0].retry_after_seconds == pytest.approx(7, abs=1.0)


def test_rate_limit_without_a_delay_uses_the_policys_backoff(pipeline, tenant, seller, openai_server):
    openai_server.then("rate_limit")

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "completed"
    expected = policy_for(FunctionCategory.AI).backoff(0).total_seconds()
    assert run.failures[0].retry_after_seconds == pytest.approx(expected, abs=1.0)


def test_server_errors_back_off_doubling_and_stop_at_the_categorys_max_attempts(
    pipeline, tenant, seller, openai_server
):
    policy = policy_for(FunctionCategory.AI)
    openai_server.then(*["server_error"] * (policy.max_attempts + 2))

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "failed"
    assert len(openai_server.requests) == policy.max_attempts
    # Each retry waited the policy's backoff (the engine's, read back unscaled); the last attempt was final.
    *retried, last = run.failures
    delays = [failure.retry_after_seconds for failure in retried]
    assert delays == pytest.approx(
        [policy.backoff(attempt).total_seconds() for attempt in range(policy.max_attempts - 1)], abs=1.0
    )
    assert delays[1] == pytest.approx(2 * delays[0], abs=1.0)
    assert last.final and last.retry_after_seconds is None
    # The failure handler leaves a `failed` sequence (no emails) so the agent can see generation gave up.
    assert run.failure_run is not None and run.failure_run.status == "completed"
    sequence = NurtureSequence.objects.get(contact=seller)
    assert sequence.status == NurtureSequence.Status.FAILED
    assert sequence.emails.count() == 0


def test_backoff_is_capped(settings):
    settings.JOBS_POLICY = {"ai": {"backoff_base_seconds": 10, "backoff_cap_seconds": 60}}
    policy = policy_for(FunctionCategory.AI)
    assert [policy.backoff(attempt).total_seconds() for attempt in range(5)] == [10, 20, 40, 60, 60]


def test_a_rejected_api_key_fails_at_once_without_retrying(pipeline, tenant, seller, openai_server, settings):
    settings.OPENAI_API_KEY = "sk-wrong"

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "failed"
    assert len(run.failures) == 1 and run.failures[0].no_retry
    assert "AuthenticationError" in run.output["message"]
    assert len(openai_server.requests) == 1
    assert NurtureSequence.objects.get(contact=seller).status == NurtureSequence.Status.FAILED


def test_a_bad_request_is_permanent(pipeline, tenant, seller, openai_server):
    openai_server.then("bad_request")

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "failed" and run.failures[0].no_retry
    assert len(openai_server.requests) == 1


def test_malformed_output_is_retried_and_the_next_good_answer_is_stored_once(pipeline, tenant, seller, openai_server):
    openai_server.then("not_json", "two_emails")

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "completed"
    assert len(run.failures) == 2
    assert all(not failure.no_retry for failure in run.failures)
    assert len(openai_server.requests) == 3
    sequence = NurtureSequence.objects.get(contact=seller)
    assert sequence.status == NurtureSequence.Status.DRAFT and sequence.emails.count() == 3


def test_output_that_stays_malformed_fails_after_the_max_attempts(pipeline, tenant, seller, openai_server):
    attempts = policy_for(FunctionCategory.AI).max_attempts
    openai_server.then(*["two_emails"] * attempts)

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "failed"
    assert len(openai_server.requests) == attempts
    assert "three-email schema" in run.output["message"]


def test_a_slow_ai_answer_beyond_the_timeout_is_retried(pipeline, tenant, seller, openai_server, settings):
    settings.OPENAI_TIMEOUT = 0.2
    openai_server.delay = 0.5

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "failed"
    assert all("APITimeoutError" in str(failure.error) for failure in run.failures)
    assert not any(failure.no_retry for failure in run.failures)
