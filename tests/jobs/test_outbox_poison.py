"""One event the event API will never take does not hold up the others (the relay's head of line), and an event
too large for Inngest is refused when emitted, not sent. Real HTTP to the event API stand-in."""

from __future__ import annotations

import pytest

from jobs.emit import EventRejected, emit
from jobs.events import NurtureSequenceGenerate
from jobs.models import EventLog
from jobs.outbox import relay_once
from tests.fakes.black_hole_event_api import BlackHoleEventApi


@pytest.fixture
def event_api(settings):
    stand_in = BlackHoleEventApi().start()
    stand_in.up()
    settings.INNGEST_BASE_URL = stand_in.url
    settings.EVENTS_SEND_TIMEOUT = 0  # the relay's rows: every one is old enough to relay
    settings.EVENTS_RELAY_SEND_TIMEOUT = 30
    yield stand_in
    stand_in.stop()


def _pending(tenant, count: int) -> list[str]:
    ids = [f"evt-{index}" for index in range(count)]
    EventLog.objects.bulk_create(
        EventLog(event_id=event_id, name="contact/category.assigned", tenant=tenant, status=EventLog.Status.PENDING)
        for event_id in ids
    )
    EventLog.objects.update(created_at=EventLog.objects.first().created_at.replace(year=2020))
    return ids


@pytest.mark.django_db(transaction=True)
def test_an_event_the_api_refuses_is_set_aside_and_the_others_are_relayed(tenant, event_api):
    ids = _pending(tenant, 9)
    poison = ids[4]
    event_api.refuse(poison)

    sent, failed = relay_once()

    assert (sent, failed) == (8, 0)
    assert set(event_api.accepted) == set(ids) - {poison}
    statuses = dict(EventLog.objects.values_list("event_id", "status"))
    assert statuses == {event_id: "rejected" if event_id == poison else "sent" for event_id in ids}
    refused = EventLog.objects.get(event_id=poison)
    assert "HTTP 400" in refused.last_error and f"event {poison} is not valid" in refused.last_error
    assert refused.errors == [{"loc": [], "msg": refused.last_error, "type": "refused_by_event_api"}]
    requests = event_api.requests
    assert relay_once() == (0, 0)  # set aside: not sent again
    assert event_api.requests == requests


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
def test_an_answer_about_the_api_or_the_key_rejects_nothing(tenant, event_api, status):
    ids = _pending(tenant, 3)
    event_api.every_answer = status

    sent, failed = relay_once()

    assert (sent, failed) == (0, 3)
    assert set(EventLog.objects.values_list("status", flat=True)) == {"pending"}
    assert event_api.requests == 1  # one batch tried; the others would fail the same way
    event_api.every_answer = None
    assert relay_once() == (3, 0)
    assert set(event_api.accepted) == set(ids)


@pytest.mark.django_db(transaction=True)
def test_an_event_over_inngests_size_limit_is_rejected_when_emitted_and_never_sent(tenant, event_api, settings):
    settings.EVENTS_MAX_BYTES = 10_000
    settings.EVENTS_SEND_TIMEOUT = 30  # the send after commit (the fixture's 0 leaves every emitted event pending)
    data = {
        "tenantId": tenant.id,
        "contactId": "6f1c1c8e-6a43-4f57-9d2a-5b3b8f0f0c11",
        "category": "seller",
        "brandVoice": "warm " * 3000,
        "assignmentId": 1,
        "source": "manual",
        "triggeredAt": "2026-12-04T10:00:00Z",
    }

    with pytest.raises(EventRejected) as rejected:
        emit(NurtureSequenceGenerate, data)

    message = str(rejected.value)
    assert "the event is 15" in message and "EVENTS_MAX_BYTES is 10000" in message
    row = EventLog.objects.get()
    assert row.status == EventLog.Status.REJECTED
    assert row.errors[0]["type"] == "event_too_large"
    assert event_api.requests == 0
    data["brandVoice"] = "warm"
    emit(NurtureSequenceGenerate, data)  # the same event within the limit is sent
    assert event_api.requests == 1
