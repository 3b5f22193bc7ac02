"""The first function, through the real serve endpoint as Inngest calls it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.events import ContactCategoryAssigned
from jobs.models import EventLog
from tests.fakes.serve_driver import call_serve, drive, inngest_event

FN_ID = "nurturehub-contact-category-assigned"


@pytest.fixture
def assigned(tenant, make_contact):
    contact = make_contact(tenant=tenant)
    return ContactCategoryAssigned(
        tenant_id=tenant.id,
        contact_id=contact.id,
        category="seller",
        assignment_id=41,
        source="manual",
        assigned_at=timezone.now(),
    )


@pytest.mark.django_db(transaction=True)
def test_category_assigned_emits_sequence_generate_with_the_tenant_brand_voice(client, tenant, assigned, event_api):
    run = drive(client, FN_ID, inngest_event(assigned))

    assert run.status == 200
    assert {"resolve-tenant-context", "emit-sequence-generate"} <= set(run.steps)
    assert event_api.names() == ["nurture/sequence.generate"]
    sent = event_api.received[0]
    assert sent["data"]["brandVoice"] == tenant.brand_voice
    assert sent["data"]["contactId"] == str(assigned.contact_id)
    assert sent["data"]["category"] == "seller"
    # The assignment it answers (its idempotency key and what cancels it) and its source (its priority).
    assert (sent["data"]["assignmentId"], sent["data"]["source"]) == (assigned.assignment_id, "manual")
    assert run.output == {"sequenceGenerateEventId": sent["id"]}
    assert EventLog.objects.get(event_id=sent["id"]).source == "run:01TESTRUN"


@pytest.mark.django_db(transaction=True)
def test_a_retried_emit_step_does_not_send_a_second_event(client, assigned, event_api):
    event = inngest_event(assigned)
    memos: dict = {}
    # Run until the emit step has executed, then repeat that same request (Inngest retrying after a lost response).
    while True:
        status, ops, _ = call_serve(client, FN_ID, event, memos, run_id="01RETRY")
        assert status == 206
        if ops[0]["displayName"] == "emit-sequence-generate":
            break
        memos[ops[0]["id"]] = {"data": ops[0]["data"]}
    status, again, _ = call_serve(client, FN_ID, event, memos, run_id="01RETRY", attempt=1)

    assert status == 206
    assert again[0]["data"] == ops[0]["data"]
    assert len(event_api.received) == 1


@pytest.mark.django_db(transaction=True)
def test_a_payload_that_fails_validation_is_not_retried(client, assigned, event_api):
    event = inngest_event(assigned)
    event["data"]["category"] = "realtor"
    status, body, headers = call_serve(client, FN_ID, event, {}, run_id="01BAD")
    assert status == 500
    assert body["code"] == "non_retriable_error"
    assert headers.get("x-inngest-no-retry") == "true"
    assert event_api.requests == 0
