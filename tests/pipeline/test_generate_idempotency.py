"""nurture/sequence.generate run again: memoized steps never rerun, a replayed event stores nothing twice, a rerun
of a failed generation fills its placeholder; through the local engine."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from jobs.functions import nurture
from tenants.models import NurtureSequence
from tenants.services import sequence_record_failure, sequence_store
from tests.factories import CrmConnectionFactory
from tests.pipeline.generation import FN, generate_event

pytestmark = pytest.mark.django_db(transaction=True)


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
