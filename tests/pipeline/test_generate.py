"""nurture/sequence.generate through the real serve endpoint, the AI step against a local OpenAI-compatible server:
what a generation stores and asks for, its prompt, and the follow-on event and agency failures.

The local engine runs it (tests/pipeline/engine_pipeline.py): memoized steps, attempts, retry-after, all the engine's;
retry delays are waited compressed and read back unscaled, so the policy's real delays (AI: 10 s doubling,
5 attempts) are checked as they are. Also: test_generate_ai_failures.py (the provider failing),
test_generate_idempotency.py (replays, reruns, memoized steps), test_generate_reassignment.py (a contact
recategorised, another agency's contact, the template writer).
"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from jobs.events import NurtureSequenceGenerate
from jobs.models import EventLog
from jobs.policy import FunctionCategory, policy_for
from tenants.models import NurtureSequence
from tests.factories import CrmConnectionFactory
from tests.pipeline.engine_pipeline import wire_event
from tests.pipeline.generation import ASSIGNED, FN, GENERATE, assign, generate_event

pytestmark = pytest.mark.django_db(transaction=True)


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
