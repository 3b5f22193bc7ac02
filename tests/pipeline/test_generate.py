"""nurture/sequence.generate through the real serve endpoint, the AI step against a local OpenAI-compatible server.

The local engine runs it (tests/pipeline/engine_pipeline.py): memoized steps, attempts, retry-after, all the engine's;
retry delays are waited compressed and read back unscaled, so the policy's real delays (AI: 10 s doubling,
5 attempts) are checked as they are.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import OperationalError
from django.utils import timezone

from jobs.events import NurtureSequenceGenerate
from jobs.functions import nurture
from jobs.models import EventLog
from jobs.policy import FunctionCategory, policy_for
from tenants.models import NurtureSequence
from tenants.services import contact_assign_category, sequence_record_failure, sequence_store
from tests.factories import CrmConnectionFactory
from tests.fakes.openai_server import Scripted
from tests.pipeline.engine_pipeline import wire_event

pytestmark = pytest.mark.django_db(transaction=True)

GENERATE = "nurture/sequence.generate"
ASSIGNED = "contact/category.assigned"
FN = "nurture-sequence-generate"


def assign(tenant, contact, category="seller"):
    contact_assign_category(tenant=tenant, contact_id=contact.id, category=category)


def generate_event(tenant, contact, category="seller", assignment_id=1):
    return wire_event(
        NurtureSequenceGenerate(
            tenant_id=tenant.id,
            contact_id=contact.id,
            category=category,
            brand_voice=tenant.brand_voice,
            assignment_id=assignment_id,
            source="api",
            triggered_at=timezone.now(),
        )
    )


@pytest.fixture
def seller(tenant, make_contact):
    contact = make_contact(tenant=tenant, first_name="Priya")
    contact.category = "seller"
    contact.save()
    return contact


def test_assigning_a_category_stores_three_draft_emails_and_asks_for_a_crm_push(
    pipeline, event_api, tenant, make_contact, openai_server
):
    CrmConnectionFactory(tenant=tenant)
    contact = make_contact(tenant=tenant, first_name="Priya")

    assign(tenant, contact)
    runs = pipeline.drain(only={ASSIGNED, GENERATE})

    assert [run.status for run in runs] == ["completed", "completed"]
    generate = runs[1]
    assert generate.steps == [
        "resolve-tenant-context",
        "build-ai-prompt",
        "call-ai-api",
        "store-sequence",
        "emit-crm-sync",
    ]
    sequence = NurtureSequence.objects.get(contact=contact)
    assert sequence.status == NurtureSequence.Status.DRAFT
    assert sequence.category == "seller"
    assert sequence.model == openai_server.model
    assert (sequence.prompt_tokens, sequence.completion_tokens) == (420, 380)
    assert sequence.brand_voice_snapshot["text"] == tenant.brand_voice
    emails = list(sequence.emails.order_by("position"))
    assert [email.position for email in emails] == [1, 2, 3]
    assert [email.send_delay_days for email in emails] == tenant.email_delays_days
    assert all(email.subject.startswith("Priya") and email.body_html and email.body_text for email in emails)
    assert event_api.names() == [ASSIGNED, GENERATE, "crm/sync.push"]
    push = event_api.received[-1]["data"]
    assert push["sequenceId"] == str(sequence.id)
    assert push["contactId"] == str(contact.id)
    assert push["pushContact"] is True


def test_without_a_crm_connection_no_push_is_requested(pipeline, event_api, tenant, make_contact, openai_server):
    contact = make_contact(tenant=tenant)
    assign(tenant, contact)

    runs = pipeline.drain()

    assert runs[-1].output["crmSync"] == "no CRM connected"
    assert event_api.names() == [ASSIGNED, GENERATE]


def test_the_prompt_carries_brand_voice_first_name_category_template_and_uk_conventions(
    pipeline, tenant, seller, openai_server
):
    tenant.brand_tone = "warm, plain-spoken"
    tenant.brand_sign_off = "Best wishes, the Harbour team"
    tenant.save()

    pipeline.run(FN, generate_event(tenant, seller))

    request = openai_server.requests[0]
    system, user = (message["content"] for message in request["messages"])
    assert tenant.brand_voice in system
    assert "warm, plain-spoken" in system
    assert "Best wishes, the Harbour team" in system
    assert "British English" in system and "£" in system and "realtor" in system
    assert 'first name "Priya"' in user
    assert "free, no-obligation market valuation" in user  # from prompts/seller.txt
    assert request["response_format"]["type"] == "json_schema"
    assert request["model"] == "gpt-4o-mini"


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


def test_completed_steps_never_rerun_when_a_later_step_fails(
    pipeline, event_api, tenant, seller, openai_server, monkeypatch
):
    CrmConnectionFactory(tenant=tenant)
    real_store = nurture.sequence_store
    calls = []

    def store_failing_once(**kwargs):
        calls.append(kwargs["source_event_id"])
        if len(calls) == 1:
            raise OperationalError("connection to server was lost")  # a transient database failure
        return real_store(**kwargs)

    monkeypatch.setattr(nurture, "sequence_store", store_failing_once)

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "completed"
    assert len(run.failures) == 1
    assert len(calls) == 2  # the store step ran twice...
    assert len(openai_server.requests) == 1  # ...but the AI step before it only once (memoized)
    assert run.steps.count("call-ai-api") == 1
    assert NurtureSequence.objects.filter(contact=seller).count() == 1
    assert event_api.names() == ["crm/sync.push"]


def test_replaying_the_same_event_never_stores_a_second_sequence_or_sends_a_second_push(
    pipeline, event_api, tenant, seller, openai_server
):
    CrmConnectionFactory(tenant=tenant)
    event = generate_event(tenant, seller)

    first = pipeline.run(FN, event)
    replay = pipeline.rerun(first)  # e.g. an operator replays the run: a new run, the same event

    assert (first.status, replay.status) == ("completed", "completed")
    assert first.output["created"] is True and replay.output["created"] is False
    assert replay.output["sequenceId"] == first.output["sequenceId"]
    assert NurtureSequence.objects.filter(contact=seller).count() == 1


def test_store_is_idempotent_per_source_event(tenant, seller):
    emails = [{"subject": f"S{n}", "preview_text": "p", "body_html": "<p>b</p>", "body_text": "b"} for n in (1, 2, 3)]
    kwargs = {
        "tenant": tenant,
        "contact_id": seller.id,
        "category": "seller",
        "source_event_id": "evt-1",
        "emails": emails,
        "send_delays_days": [0, 3, 7],
        "model": "m",
    }
    first = sequence_store(**kwargs)
    second = sequence_store(**kwargs)

    assert first.created and not second.created
    assert first.sequence.pk == second.sequence.pk
    assert NurtureSequence.objects.count() == 1


def test_a_rerun_of_a_failed_generation_stores_its_sequence_in_the_failed_placeholder(tenant, seller):
    """A replay reruns the failed run with the same event: its store finds the `failed` row of that event."""
    emails = [{"subject": f"S{n}", "preview_text": "p", "body_html": "<p>b</p>", "body_text": "b"} for n in (1, 2, 3)]
    failed = sequence_record_failure(
        tenant=tenant, contact_id=seller.id, category="seller", source_event_id="evt-9", error="AI provider 503"
    )
    assert failed.status == NurtureSequence.Status.FAILED

    stored = sequence_store(
        tenant=tenant,
        contact_id=seller.id,
        category="seller",
        source_event_id="evt-9",
        emails=emails,
        send_delays_days=[0, 3, 7],
        model="m",
    )

    assert stored.created and stored.sequence.pk == failed.pk
    sequence = NurtureSequence.objects.get(pk=failed.pk)
    assert (sequence.status, sequence.model, sequence.emails.count()) == (NurtureSequence.Status.DRAFT, "m", 3)
    assert NurtureSequence.objects.filter(contact=seller).count() == 1
    # ... and a later failure of the same event changes nothing any more.
    sequence_record_failure(
        tenant=tenant, contact_id=seller.id, category="seller", source_event_id="evt-9", error="late"
    )
    assert NurtureSequence.objects.get(pk=failed.pk).status == NurtureSequence.Status.DRAFT


def test_recategorising_supersedes_the_previous_sequence(pipeline, tenant, make_contact, openai_server):
    contact = make_contact(tenant=tenant)
    assign(tenant, contact, "seller")
    pipeline.drain()
    assign(tenant, contact, "landlord")
    pipeline.drain()

    sequences = {sequence.category: sequence.status for sequence in NurtureSequence.objects.filter(contact=contact)}
    assert sequences == {"seller": "superseded", "landlord": "draft"}


def test_a_contact_recategorised_before_generation_costs_no_ai_call(pipeline, tenant, seller, openai_server):
    stale = generate_event(tenant, seller, category="seller")
    seller.category = "buyer"
    seller.save()

    run = pipeline.run(FN, stale)

    assert run.status == "completed"
    assert run.output == {"skipped": "contact is now in category buyer"}
    assert openai_server.requests == []
    assert not NurtureSequence.objects.exists()


def test_another_tenants_contact_is_never_generated_for(pipeline, tenant, other_tenant, seller, openai_server):
    event = generate_event(other_tenant, seller)  # other tenant's id with this tenant's contact

    run = pipeline.run(FN, event)

    assert run.status == "failed"
    assert run.failures[0].no_retry
    assert openai_server.requests == []
    assert not NurtureSequence.objects.exists()


def test_without_an_api_key_the_template_writer_drafts_offline(pipeline, tenant, seller, template_writer):
    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "completed"
    sequence = NurtureSequence.objects.get(contact=seller)
    assert sequence.model == "template"
    assert (sequence.prompt_tokens, sequence.completion_tokens) == (0, 0)
    emails = list(sequence.emails.order_by("position"))
    assert len(emails) == 3
    assert all("Priya" in email.body_text and tenant.name in email.body_text for email in emails)


def test_runs_of_quick_reassignments_finishing_out_of_order_leave_the_newest_sequence_live(
    pipeline, event_api, tenant, make_contact, openai_server
):
    contact = make_contact(tenant=tenant)
    assign(tenant, contact, "seller")
    assign(tenant, contact, "landlord")
    first, second = event_api.received[:2]

    pipeline.dispatch(second)  # the newer assignment's run happens to go first...
    pipeline.dispatch(event_api.received[-1])  # ...and its sequence is generated
    pipeline.dispatch(first)  # then the older assignment's run arrives late
    late_generate = pipeline.dispatch(event_api.received[-1])

    older, newer = (event["data"]["assignmentId"] for event in (first, second))
    assert late_generate[0].output == {"skipped": f"assignment {older} was replaced by assignment {newer}"}
    sequences = list(NurtureSequence.objects.filter(contact=contact).values_list("category", "status"))
    assert sequences == [("landlord", "draft")]
    assert len(openai_server.requests) == 1


def test_a_generation_that_starts_after_its_assignment_was_replaced_costs_no_ai_call_even_in_the_same_category(
    pipeline, event_api, tenant, make_contact, openai_server
):
    """Seller -> landlord -> seller: the first assignment's generation, started late, asks for the contact's
    current category, yet its assignment is not the current one (the third's generation writes that sequence).
    Cancel-on cannot catch it: it started after the newer assignments were sent."""
    contact = make_contact(tenant=tenant)
    for category in ("seller", "landlord", "seller"):
        assign(tenant, contact, category)
    first = event_api.received[0]

    pipeline.dispatch(first)  # the first assignment's routing run, late
    late_generate = pipeline.dispatch(event_api.received[-1])

    assert late_generate[0].output["skipped"].startswith(f"assignment {first['data']['assignmentId']} was replaced")
    assert openai_server.requests == []
    assert not NurtureSequence.objects.exists()


def test_a_follow_on_event_inngest_refuses_is_retried_on_the_ai_policy_and_sent_once(
    pipeline, event_api, tenant, seller, openai_server
):
    CrmConnectionFactory(tenant=tenant)
    event_api.fail_with, event_api.fail_times = 503, 1  # Inngest does not accept crm/sync.push once

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "completed"
    assert len(run.failures) == 1
    expected = policy_for(FunctionCategory.AI).backoff(0).total_seconds()
    assert run.failures[0].retry_after_seconds == pytest.approx(expected, abs=1.0)
    assert "not accepted by Inngest" in run.failures[0].error["message"]
    assert event_api.names() == ["crm/sync.push"]  # the retry sent the pending event, once
    assert len(openai_server.requests) == 1


def test_a_follow_on_event_the_event_api_refuses_fails_the_run_at_once(
    pipeline, event_api, tenant, seller, openai_server
):
    CrmConnectionFactory(tenant=tenant)
    event_api.fail_with = 400  # the event API refuses crm/sync.push itself: no retry can change that

    run = pipeline.run(FN, generate_event(tenant, seller))

    assert run.status == "failed" and len(run.failures) == 1 and run.failures[0].no_retry
    assert "crm/sync.push refused by the event API: HTTP 400" in run.output["message"]
    refused = EventLog.objects.get(name="crm/sync.push")
    assert refused.status == EventLog.Status.REJECTED and refused.errors[0]["type"] == "refused_by_event_api"
    assert event_api.requests == 1  # sent once, set aside, not sent again
    assert len(openai_server.requests) == 1


def test_a_run_for_an_agency_that_no_longer_exists_fails_cleanly(pipeline, seller, openai_server):
    event = wire_event(
        NurtureSequenceGenerate(
            tenant_id=uuid.uuid4(),
            contact_id=seller.id,
            category="seller",
            brand_voice="Plain.",
            assignment_id=1,
            source="api",
            triggered_at=timezone.now(),
        )
    )

    run = pipeline.run(FN, event)

    assert run.status == "failed" and run.failures[0].no_retry
    assert "does not exist" in run.output["message"]
    assert run.failure_run.status == "completed" and run.failure_run.output == {"recorded": False}
    assert openai_server.requests == []
    assert not NurtureSequence.objects.exists()
