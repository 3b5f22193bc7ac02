"""Validated emission: log, outbox, send after commit, batch within Inngest's limits."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.emit import EventRejected, emit, emit_many, emit_raw, events_resend
from jobs.events import AlertHotLeadFire, LeadIntentScore, NurtureSequenceGenerate
from jobs.models import EventLog


def generate_payload(tenant, **overrides):
    return {
        "tenant_id": tenant.id if tenant else None,
        "contact_id": uuid.uuid4(),
        "category": "seller",
        "brand_voice": "Warm and local.",
        "assignment_id": 1,
        "source": "api",
        "triggered_at": timezone.now(),
        **overrides,
    }


@pytest.mark.django_db(transaction=True)
def test_emit__inside_a_transaction_sends_only_after_commit(tenant, event_api):
    with transaction.atomic():
        row = emit(NurtureSequenceGenerate, generate_payload(tenant))
        assert event_api.received == []
        assert EventLog.objects.get(pk=row.pk).status == EventLog.Status.PENDING
    assert event_api.names() == ["nurture/sequence.generate"]
    assert event_api.received[0]["id"] == row.event_id
    assert event_api.received[0]["data"]["tenantId"] == str(tenant.id)
    row.refresh_from_db()
    assert row.status == EventLog.Status.SENT
    assert row.sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_emit__rolled_back_transaction_sends_nothing_and_leaves_no_row(tenant, event_api):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        emit(NurtureSequenceGenerate, generate_payload(tenant))
        raise Boom
    assert event_api.received == []
    assert not EventLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_emit__malformed_payload_is_rejected_logged_and_never_sent(tenant, event_api):
    payload = generate_payload(tenant, category="realtor", brand_voice="", triggered_at="soon")
    with pytest.raises(EventRejected) as error:
        emit(NurtureSequenceGenerate, payload)
    message = str(error.value)
    for field in ("category", "brandVoice", "triggeredAt"):
        assert field in message
    row = EventLog.objects.get()
    assert row.status == EventLog.Status.REJECTED
    assert row.event_id is None
    assert {e["loc"][0] for e in row.errors} == {"category", "brandVoice", "triggeredAt"}
    assert row.payload["category"] == "realtor"
    assert event_api.requests == 0


@pytest.mark.django_db(transaction=True)
def test_emit__unknown_tenant_is_rejected(tenant, event_api):
    ghost = uuid.uuid4()
    with pytest.raises(EventRejected, match=f"unknown tenant {ghost}"):
        emit(NurtureSequenceGenerate, {**generate_payload(tenant=None), "tenant_id": ghost})
    assert EventLog.objects.get().status == EventLog.Status.REJECTED
    assert event_api.requests == 0


@pytest.mark.django_db(transaction=True)
def test_emit_many__one_bad_item_rejects_the_batch_and_names_its_index(tenant, event_api):
    items = [generate_payload(tenant), generate_payload(tenant, category="nope"), generate_payload(tenant)]
    with pytest.raises(EventRejected, match=r"\[1\] category"):
        emit_many(NurtureSequenceGenerate, items)
    assert list(EventLog.objects.values_list("status", flat=True)) == [EventLog.Status.REJECTED]
    assert event_api.requests == 0


@pytest.mark.django_db(transaction=True)
def test_emit_raw__unknown_event_name_is_rejected_and_logged(tenant, event_api):
    with pytest.raises(EventRejected, match=r"unknown event 'lead/intent\.guess'"):
        emit_raw("lead/intent.guess", {"tenantId": str(tenant.id)})
    row = EventLog.objects.get()
    assert (row.name, row.status) == ("lead/intent.guess", EventLog.Status.REJECTED)


@pytest.mark.django_db(transaction=True)
def test_send_failure_keeps_the_event_pending_and_resend_delivers_it_once(tenant, event_api):
    event_api.fail_with = 503
    row = emit(NurtureSequenceGenerate, generate_payload(tenant))
    assert row.status == EventLog.Status.PENDING
    assert "503" in row.last_error or "SendEventsError" in row.last_error or row.last_error
    stored = EventLog.objects.get(pk=row.pk)
    assert stored.status == EventLog.Status.PENDING
    assert stored.send_attempts == 1
    assert event_api.received == []

    event_api.fail_with = None
    first = events_resend()
    second = events_resend()

    assert (first.sent, first.failed) == (1, 0)
    assert (second.sent, second.failed) == (0, 0)
    assert [event["id"] for event in event_api.received] == [row.event_id]
    stored.refresh_from_db()
    assert (stored.status, stored.last_error, stored.send_attempts) == (EventLog.Status.SENT, "", 2)


@pytest.mark.django_db(transaction=True)
def test_emit_with_an_explicit_event_id_is_idempotent(tenant, event_api):
    payload = generate_payload(tenant)
    first = emit(NurtureSequenceGenerate, payload, event_id="run-1-emit-generate")
    second = emit(NurtureSequenceGenerate, payload, event_id="run-1-emit-generate")
    assert first.pk == second.pk
    assert EventLog.objects.count() == 1
    assert len(event_api.received) == 1


@pytest.mark.django_db(transaction=True)
def test_emit_with_an_explicit_id_resends_a_row_left_pending(tenant, event_api):
    event_api.fail_with = 503  # unavailable: the event stays pending
    pending = emit(NurtureSequenceGenerate, generate_payload(tenant), event_id="step-retry-1")
    assert pending.status == EventLog.Status.PENDING
    event_api.fail_with = None
    again = emit(NurtureSequenceGenerate, generate_payload(tenant), event_id="step-retry-1")
    assert again.pk == pending.pk
    assert again.status == EventLog.Status.SENT
    assert [event["id"] for event in event_api.received] == ["step-retry-1"]


@pytest.mark.django_db(transaction=True)
def test_emit_many__batches_respect_the_event_count_limit(tenant, event_api, monkeypatch):
    # Real payloads hit the 512 KB limit long before 5,000 events; a lower count limit shows the count rule.
    monkeypatch.setattr("jobs.emit.MAX_EVENTS_PER_REQUEST", 40)
    items = [
        {"tenant_id": tenant.id, "contact_id": uuid.uuid4(), "reason": "decay", "occurred_at": timezone.now()}
        for _ in range(101)
    ]
    rows = emit_many(LeadIntentScore, items)
    assert event_api.requests == 3
    assert len({event["id"] for event in event_api.received}) == 101
    assert EventLog.objects.filter(status=EventLog.Status.SENT).count() == len(rows) == 101


@pytest.mark.django_db(transaction=True)
def test_emit_many__batches_respect_the_512_kb_limit(tenant, event_api):
    voice = "Our voice is warm, local and precise. " * 60  # about 2.3 KB per event
    rows = emit_many(NurtureSequenceGenerate, [generate_payload(tenant, brand_voice=voice) for _ in range(600)])
    assert len(rows) == 600
    assert event_api.requests >= 3
    assert max(event_api.request_sizes) <= 512 * 1024
    assert len(event_api.received) == 600


# Property: whatever is wrong with a payload, it is rejected, logged and never sent.

VALID_WIRE_FIELDS = ["tenantId", "contactId", "score", "threshold", "firedAt"]
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.datetimes(),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def malformed_alert_payloads(draw, tenant_id: str):
    payload = {
        "tenantId": tenant_id,
        "contactId": str(uuid.uuid4()),
        "score": 90,
        "threshold": 80,
        "firedAt": "2026-11-24T10:00:00+00:00",
    }
    mutation = draw(st.sampled_from(["drop", "junk", "extra"]))
    field = draw(st.sampled_from(VALID_WIRE_FIELDS))
    if mutation == "drop":
        del payload[field]
    elif mutation == "junk":
        value = draw(junk.filter(lambda v, f=field: not _accidentally_valid(f, v)))
        payload[field] = value
    else:
        payload[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in VALID_WIRE_FIELDS))] = draw(junk)
    return payload


def _accidentally_valid(field: str, value: object) -> bool:
    """Junk that happens to be a valid value for the field (an in-range integer score or threshold)."""
    if field in ("score", "threshold") and type(value) is int:
        return 80 <= value <= 100 if field == "score" else 1 <= value <= 90
    return False


@pytest.mark.django_db(transaction=True)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property__malformed_payloads_are_always_rejected_logged_and_never_sent(data, tenant, event_api):
    payload = data.draw(malformed_alert_payloads(str(tenant.id)))
    before = EventLog.objects.filter(status=EventLog.Status.REJECTED).count()
    with pytest.raises(EventRejected):
        emit(AlertHotLeadFire, payload)
    assert EventLog.objects.filter(status=EventLog.Status.REJECTED).count() == before + 1
    assert not EventLog.objects.exclude(status=EventLog.Status.REJECTED).exists()
    assert event_api.requests == 0


@pytest.mark.django_db(transaction=True)
def test_a_rejected_payload_with_characters_postgresql_refuses_is_still_recorded(tenant, event_api):
    payload = {"tenantId": str(tenant.id), "score": float("nan"), "note\x00": "a\x00b"}
    with pytest.raises(EventRejected):
        emit(AlertHotLeadFire, payload)
    row = EventLog.objects.get(status=EventLog.Status.REJECTED)
    assert row.payload["score"] == "NaN"
    assert row.payload["note\ufffd"] == "a\ufffdb"
