"""nurture/sequence.generate for a contact recategorised (superseded, no AI call for a replaced assignment, the
newest sequence live), for another agency's contact, and by the offline template writer; through the local engine."""

from __future__ import annotations

import pytest

from tenants.models import NurtureSequence
from tests.pipeline.generation import FN, assign, generate_event

pytestmark = pytest.mark.django_db(transaction=True)


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
