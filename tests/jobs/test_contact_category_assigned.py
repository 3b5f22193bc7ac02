"""The first function, run by the local engine through the real serve endpoint as Inngest runs it."""
# ruff: noqa: F811 - pytest fixtures imported from tests/pipeline/conftest.py are parameters here

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from jobs.engine.dispatcher import Dispatcher
from jobs.engine.models import QueueItem
from jobs.events import ContactCategoryAssigned
from jobs.models import EventLog
from tests.pipeline.conftest import engine, idle_engine, pipeline  # noqa: F401 - the engine harness
from tests.pipeline.engine_pipeline import EnginePipeline, wire_event
from tests.waiting import wait_for

pytestmark = [pytest.mark.urls("tests.pipeline.urls"), pytest.mark.django_db(transaction=True)]

FUNCTION = "contact-category-assigned"


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


def test_category_assigned_emits_sequence_generate_with_the_tenant_brand_voice(tenant, assigned, pipeline):
    run = pipeline.run(FUNCTION, wire_event(assigned))

    assert run.status == "completed"
    assert {"resolve-tenant-context", "emit-sequence-generate"} <= set(run.steps)
    assert pipeline.event_api.names() == ["nurture/sequence.generate"]
    sent = pipeline.event_api.received[0]
    assert sent["data"]["brandVoice"] == tenant.brand_voice
    assert sent["data"]["contactId"] == str(assigned.contact_id)
    assert sent["data"]["category"] == "seller"
    # The assignment it answers (its idempotency key and what cancels it) and its source (its priority).
    assert (sent["data"]["assignmentId"], sent["data"]["source"]) == (assigned.assignment_id, "manual")
    assert run.output == {"sequenceGenerateEventId": sent["id"]}
    assert EventLog.objects.get(event_id=sent["id"]).source == f"run:{run.run_id}"


@pytest.fixture
def impatient_engine(live_server, event_api, settings):
    """The local engine with a short step timeout and real (unscaled) retry delays: a step whose answer is late is
    lost to the engine, and its retry waits in the queue until the test makes it due."""
    settings.ENGINE_DELAY_SCALE = 1
    settings.ENGINE_POLL_INTERVAL = 0.02
    dispatcher = Dispatcher(app_urls=[settings.INNGEST_SERVE_URL], step_timeout=1.0)
    assert dispatcher.sync_apps() == {}
    dispatcher.start()
    yield EnginePipeline(live_server.url, event_api)
    if event_api.hold is not None:
        event_api.hold.set()
    dispatcher.stop(timeout=10)


def test_a_retried_emit_step_does_not_send_a_second_event(assigned, event_api, impatient_engine):
    event_api.hold = threading.Event()  # the emit step's send waits here until the engine has given up on it
    sent = impatient_engine.send_later(wire_event(assigned))
    wait_for(lambda: event_api.held == 1, message="the emit step's send in flight")
    retry = QueueItem.objects.filter(
        run__function__slug=f"{settings.INNGEST_APP_ID}-{FUNCTION}",
        attempt=1,
        available_at__gt=timezone.now() + timedelta(seconds=5),  # Inngest's first backoff is 15 s
    )
    wait_for(retry.exists, message="the engine to schedule a retry of the request it got no answer to")

    event_api.hold.set()  # the first execution's send is accepted, its answer long lost
    wait_for(lambda: EventLog.objects.filter(name="nurture/sequence.generate", status="sent").exists())
    assert retry.update(available_at=timezone.now()) == 1  # the retry made due now, as if its backoff had passed
    (run,) = sent()

    assert run.status == "completed"
    assert [(f.attempt, f.final) for f in run.failures] == [(0, False)]  # the lost answer, retried once
    assert "could not be reached" in str(run.failures[0].error)
    assert len(event_api.received) == 1  # the step ran twice, the event was sent once
    assert run.output == {"sequenceGenerateEventId": event_api.received[0]["id"]}


def test_a_payload_that_fails_validation_is_not_retried(assigned, event_api, pipeline):
    event = wire_event(assigned)
    event["data"]["category"] = "realtor"

    run = pipeline.run(FUNCTION, event)

    assert run.status == "failed"
    ((failure,),) = [run.failures]
    assert failure.attempt == 0 and failure.no_retry  # failed on its first attempt with attempts left
    assert "non_retriable_error" in str(failure.error) or "NonRetriableError" in str(failure.error)
    assert event_api.requests == 0
