"""The event contract: the naming rule, each event's schema, and the camelCase wire format."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from pydantic import ValidationError

from jobs.events import (
    CATALOGUE,
    AlertHotLeadFire,
    ContactCategoryAssigned,
    CrmSyncPush,
    Event,
    EventNameError,
    LeadIntentScore,
    NurtureSequenceGenerate,
    check_event_name,
)

TENANT = str(uuid.uuid4())
CONTACT = str(uuid.uuid4())
NOW = "2026-11-24T09:30:00+00:00"

VALID = {
    NurtureSequenceGenerate: {
        "tenantId": TENANT,
        "contactId": CONTACT,
        "category": "seller",
        "brandVoice": "Warm and local.",
        "assignmentId": 7,
        "source": "csv-import",
        "triggeredAt": NOW,
    },
    ContactCategoryAssigned: {
        "tenantId": TENANT,
        "contactId": CONTACT,
        "category": "landlord",
        "previousCategory": "seller",
        "assignmentId": 7,
        "assignedBy": 3,
        "source": "manual",
        "assignedAt": NOW,
    },
    CrmSyncPush: {"tenantId": TENANT, "contactId": CONTACT, "sequenceId": str(uuid.uuid4()), "requestedAt": NOW},
    LeadIntentScore: {
        "tenantId": TENANT,
        "contactId": CONTACT,
        "reason": "engagement",
        "engagementEventId": str(uuid.uuid4()),
        "occurredAt": NOW,
    },
    AlertHotLeadFire: {"tenantId": TENANT, "contactId": CONTACT, "score": 85, "threshold": 80, "firedAt": NOW},
}


@pytest.mark.parametrize(
    "name",
    [
        "nurture/sequence.generate",
        "contact/category.assigned",
        "crm/sync.push",
        "lead/intent.score",
        "alert/hot-lead.fire",
        "billing/invoice",
        "a1/b2.c3-d4.e5",
    ],
)
def test_check_event_name__accepts_names_that_follow_the_rule(name):
    assert check_event_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Nurture/sequence.generate", "lowercase"),
        ("nurture-sequence-generate", "exactly one '/'"),
        ("nurture/sequence/generate", "exactly one '/'"),
        ("inngest/function.failed", "reserved"),
        ("/sequence.generate", "domain must start with a letter"),
        ("nurture_x/sequence", "domain must start with a letter"),
        ("nurture/", "dot-separated segments"),
        ("nurture/sequence..generate", "dot-separated segments"),
        ("nurture/sequence.", "dot-separated segments"),
        ("nurture/-sequence", "dot-separated segments"),
        ("nurture/sequence-.generate", "dot-separated segments"),
        ("nurture/sequence generate", "dot-separated segments"),
        ("nurture/sequence_generate", "dot-separated segments"),
        ("", "non-empty"),
    ],
)
def test_check_event_name__says_which_rule_a_bad_name_breaks(name, rule):
    with pytest.raises(EventNameError, match=rule.replace(".", r"\.").replace("(", r"\(")):
        check_event_name(name)


def test_defining_an_event_with_a_bad_name_fails_at_class_definition():
    with pytest.raises(EventNameError, match="lowercase"):

        class Bad(Event):
            name: ClassVar[str] = "Lead/Intent.Score"


def test_defining_an_event_name_twice_fails_and_names_the_first_definition():
    with pytest.raises(EventNameError, match=r"already defined by jobs\.events\.LeadIntentScore"):

        class Duplicate(Event):
            name: ClassVar[str] = "lead/intent.score"


def test_catalogue_holds_the_five_contract_events():
    assert {
        "nurture/sequence.generate",
        "contact/category.assigned",
        "crm/sync.push",
        "lead/intent.score",
        "alert/hot-lead.fire",
    } <= set(CATALOGUE)


@pytest.mark.parametrize("event_cls", list(VALID))
def test_valid_payload_round_trips_through_the_camel_case_wire_format(event_cls):
    event = event_cls.model_validate(VALID[event_cls])
    wire = event.to_wire()
    assert wire["tenantId"] == TENANT
    assert "tenant_id" not in wire
    assert event_cls.model_validate(wire) == event


@pytest.mark.parametrize("event_cls", list(VALID))
def test_every_event_refuses_unknown_fields(event_cls):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        event_cls.model_validate({**VALID[event_cls], "surprise": 1})


@pytest.mark.parametrize("event_cls", list(VALID))
def test_every_event_requires_tenant_id(event_cls):
    payload = {key: value for key, value in VALID[event_cls].items() if key != "tenantId"}
    with pytest.raises(ValidationError) as error:
        event_cls.model_validate(payload)
    assert error.value.errors()[0]["loc"] == ("tenantId",)


INVALID_FIELDS = [
    (NurtureSequenceGenerate, "tenantId", "not-a-uuid"),
    (NurtureSequenceGenerate, "contactId", 12),
    (NurtureSequenceGenerate, "category", "estate-agent"),
    (NurtureSequenceGenerate, "brandVoice", "   "),
    (NurtureSequenceGenerate, "triggeredAt", "2026-11-24T09:30:00"),  # no timezone
    (NurtureSequenceGenerate, "triggeredAt", "yesterday"),
    (NurtureSequenceGenerate, "assignmentId", None),  # every generation answers one assignment
    (NurtureSequenceGenerate, "assignmentId", "7"),
    (NurtureSequenceGenerate, "source", "fax"),
    (ContactCategoryAssigned, "previousCategory", "realtor"),
    (ContactCategoryAssigned, "assignmentId", 0),
    (ContactCategoryAssigned, "source", "fax"),
    (ContactCategoryAssigned, "assignedAt", None),
    (CrmSyncPush, "requestedAt", "2026-13-01T00:00:00Z"),
    (CrmSyncPush, "sequenceId", "seq-1"),
    (LeadIntentScore, "reason", "vibes"),
    (LeadIntentScore, "engagementEventId", "e-1"),
    (AlertHotLeadFire, "score", 101),
    (AlertHotLeadFire, "threshold", 0),
]


@pytest.mark.parametrize(("event_cls", "field", "value"), INVALID_FIELDS)
def test_each_invalid_field_is_rejected_and_named(event_cls, field, value):
    with pytest.raises(ValidationError) as error:
        event_cls.model_validate({**VALID[event_cls], field: value})
    assert [e["loc"][0] for e in error.value.errors()] == [field]


def test_crm_sync_push_needs_something_to_push():
    payload = {"tenantId": TENANT, "contactId": CONTACT, "pushContact": False, "requestedAt": NOW}
    with pytest.raises(ValidationError, match="nothing to push"):
        CrmSyncPush.model_validate(payload)


def test_intent_score_for_engagement_needs_the_engagement_event():
    payload = {**VALID[LeadIntentScore]}
    del payload["engagementEventId"]
    with pytest.raises(ValidationError, match="needs engagementEventId"):
        LeadIntentScore.model_validate(payload)
    assert LeadIntentScore.model_validate({**payload, "reason": "decay"}).engagement_event_id is None


def test_hot_lead_alert_score_must_reach_its_threshold():
    with pytest.raises(ValidationError, match="below the threshold"):
        AlertHotLeadFire.model_validate({**VALID[AlertHotLeadFire], "score": 79})


def test_python_names_are_accepted_too():
    event = NurtureSequenceGenerate(
        tenant_id=uuid.UUID(TENANT),
        contact_id=uuid.UUID(CONTACT),
        category="vendor",
        brand_voice="Crisp.",
        assignment_id=3,
        source="admin",
        triggered_at=datetime(2026, 11, 24, tzinfo=UTC),
    )
    assert event.to_wire()["category"] == "vendor"
    assert event.to_wire()["triggeredAt"] == "2026-11-24T00:00:00Z"


def test_events_are_immutable():
    event = AlertHotLeadFire.model_validate(VALID[AlertHotLeadFire])
    with pytest.raises(ValidationError):
        event.score = 10


def test_nul_characters_are_refused_anywhere_in_a_payload():
    # PostgreSQL stores no NUL in text or JSON: such a payload would fail deep inside a job instead of here.
    with pytest.raises(ValidationError, match="NUL"):
        NurtureSequenceGenerate.model_validate({**VALID[NurtureSequenceGenerate], "brandVoice": "Warm\x00"})
