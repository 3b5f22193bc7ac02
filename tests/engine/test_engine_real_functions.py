"""The app's own functions, through the production serve endpoint `/api/inngest` and the engine."""

from __future__ import annotations

import pytest
from django.conf import settings

from jobs.engine.models import Event, Run
from jobs.models import EventLog
from tenants.services import contact_assign_category

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def test_assigning_a_category_runs_contact_category_assigned_which_emits_sequence_generate(
    engine, tenant, make_contact, wait_until
):
    engine.start_dispatcher(app_urls=[settings.INNGEST_SERVE_URL])
    contact = make_contact(tenant=tenant)

    contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller")

    (run,) = engine.wait_for_runs("nurturehub-contact-category-assigned", 1, timeout=30)
    assert run.status == Run.Status.COMPLETED, run.error
    assert run.events[0]["data"]["contactId"] == str(contact.id)
    follow_on = EventLog.objects.get(name="nurture/sequence.generate")
    assert follow_on.status == EventLog.Status.SENT
    assert follow_on.payload["contactId"] == str(contact.id)
    assert run.output["sequenceGenerateEventId"] == follow_on.event_id
    # The engine received it under the same id (so a re-sent event would not start a second run).
    assert Event.objects.filter(name="nurture/sequence.generate", external_id=follow_on.event_id).count() == 1
