"""`manage.py events list|send|resend` for operations staff."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command

from jobs.models import EventLog


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("events", *args, stdout=out)
    return out.getvalue()


def test_list_prints_every_event_with_its_json_schema(db):
    output = run("list")
    for name in ("nurture/sequence.generate", "crm/sync.push", "alert/hot-lead.fire"):
        assert name in output
    assert '"tenantId"' in output
    assert '"format": "uuid"' in output


@pytest.mark.django_db(transaction=True)
def test_send_validates_logs_and_sends(tenant, event_api):
    payload = {
        "tenantId": str(tenant.id),
        "contactId": str(uuid.uuid4()),
        "reason": "recalculate",
        "occurredAt": "2026-11-24T10:00:00Z",
    }
    output = run("send", "lead/intent.score", json.dumps(payload))
    row = EventLog.objects.get()
    assert f"sent lead/intent.score as {row.event_id}" in output
    assert event_api.received[0]["data"] == {**payload, "engagementEventId": None}


@pytest.mark.django_db(transaction=True)
def test_send_with_an_invalid_payload_fails_and_lists_every_bad_field(tenant, event_api):
    payload = {"tenantId": "nope", "contactId": str(uuid.uuid4()), "reason": "vibes", "occurredAt": "later"}
    with pytest.raises(CommandError) as error:
        run("send", "lead/intent.score", json.dumps(payload))
    message = str(error.value)
    assert "rejected, nothing sent" in message
    for field in ("tenantId", "reason", "occurredAt"):
        assert f"  {field}:" in message
    assert EventLog.objects.get().status == EventLog.Status.REJECTED
    assert event_api.requests == 0


@pytest.mark.django_db(transaction=True)
def test_send_with_broken_json_fails_clearly(event_api):
    with pytest.raises(CommandError, match="not valid JSON"):
        run("send", "lead/intent.score", "{tenantId: 1}")
    assert not EventLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_resend_sends_pending_events_and_reports_what_stays_pending(tenant, event_api):
    payload = {
        "tenantId": str(tenant.id),
        "contactId": str(uuid.uuid4()),
        "reason": "decay",
        "occurredAt": "2026-11-24T10:00:00Z",
    }
    event_api.fail_with = 503
    with pytest.raises(CommandError, match="stored as pending"):
        run("send", "lead/intent.score", json.dumps(payload))
    with pytest.raises(CommandError, match="1 events could not be sent"):
        run("resend")
    event_api.fail_with = None
    assert "sent 1, still pending 0" in run("resend")
    assert EventLog.objects.get().status == EventLog.Status.SENT
    assert len(event_api.received) == 1
