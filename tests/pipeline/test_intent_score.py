"""Engagement intake -> lead/intent.score -> alert/hot-lead.fire, through the real serve endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from jobs.events import LeadIntentScore
from jobs.models import EventLog
from tenants.errors import ContactNotFound, EngagementInvalid
from tenants.models import EngagementEvent, HotLeadAlert, IntentScore, Membership
from tenants.services import engagement_record
from tests.factories import MembershipFactory
from tests.pipeline.engine_pipeline import wire_event

pytestmark = pytest.mark.django_db(transaction=True)

SCORE = "lead/intent.score"
ALERT = "alert/hot-lead.fire"


@pytest.fixture
def vendor(tenant, make_contact, agent):
    contact = make_contact(tenant=tenant, first_name="Olu", last_name="Adeyemi", assigned_agent=agent)
    contact.category = "vendor"  # x1.5
    contact.save()
    return contact


def engage(tenant, contact, kind, *, minutes_ago=5, **fields):
    return engagement_record(
        tenant=tenant,
        contact_id=contact.id,
        kind=kind,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )


def test_engagement_is_stored_and_asks_for_a_rescore(event_api, tenant, vendor):
    recorded = engage(tenant, vendor, "email.click", url="https://agency.example/area", email_position=1)

    assert recorded.created
    assert event_api.names() == [SCORE]
    data = event_api.received[0]["data"]
    assert data == {
        "tenantId": str(tenant.id),
        "contactId": str(vendor.id),
        "reason": "engagement",
        "engagementEventId": str(recorded.event.id),
        "occurredAt": data["occurredAt"],
    }


def test_the_same_provider_event_twice_is_stored_once_and_scored_once(event_api, tenant, vendor):
    first = engage(tenant, vendor, "email.open", provider_event_id="esp-123", email_position=1)
    again = engage(tenant, vendor, "email.open", provider_event_id="esp-123", email_position=1)

    assert first.created and not again.created
    assert again.event.pk == first.event.pk
    assert EngagementEvent.objects.count() == 1
    assert event_api.names() == [SCORE]


def test_the_same_provider_event_id_in_another_tenant_is_a_different_event(
    event_api, tenant, other_tenant, vendor, make_contact
):
    other = make_contact(tenant=other_tenant)
    engage(tenant, vendor, "email.reply", provider_event_id="esp-1")
    engage(other_tenant, other, "email.reply", provider_event_id="esp-1")

    assert EngagementEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "email.bounce"}, "kind: unknown engagement"),
        ({"kind": "email.click"}, "url: a click needs the URL"),
        ({"kind": "email.open", "email_position": 4}, "emailPosition: must be 1, 2 or 3"),
        ({"kind": "email.reply", "minutes_ago": -60 * 24}, "occurredAt: is in the future"),
    ],
)
def test_bad_engagement_gets_a_clear_error_and_stores_nothing(event_api, tenant, vendor, fields, message):
    kind = fields.pop("kind")
    with pytest.raises(EngagementInvalid, match=message):
        engage(tenant, vendor, kind, **fields)

    assert not EngagementEvent.objects.exists()
    assert event_api.received == []


def test_engagement_for_another_tenants_contact_is_refused(event_api, other_tenant, vendor):
    with pytest.raises(ContactNotFound):
        engage(other_tenant, vendor, "email.reply")
    assert not EngagementEvent.objects.exists()


def test_a_score_is_stored_with_its_breakdown(pipeline, tenant, vendor):
    engage(tenant, vendor, "email.open", email_position=1)  # 5
    engage(tenant, vendor, "email.reply")  # 25

    runs = pipeline.drain()

    assert [run.function_id for run in runs] == ["nurturehub-lead-intent-score"] * 2
    vendor.refresh_from_db()
    assert vendor.intent_score == 45  # (5 + 25) x 1.5
    latest = IntentScore.objects.filter(contact=vendor).first()
    assert latest.score == 45 and latest.band == "cold"
    assert latest.breakdown["events"] == {
        "email.open": {"count": 1, "points": 5},
        "email.reply": {"count": 1, "points": 25},
    }
    assert runs[-1].output["alert"] == "not hot"


def test_crossing_hot_fires_one_alert_and_emails_the_assigned_agent(pipeline, event_api, tenant, vendor, agent):
    engage(tenant, vendor, "email.reply")  # 25
    engage(tenant, vendor, "viewing.booked")  # 30 -> 55 x 1.5 = 82.5 -> 83: hot

    runs = pipeline.drain()

    assert event_api.names() == [SCORE, SCORE, ALERT]
    assert runs[-1].function_id == "nurturehub-alert-hot-lead-fire" and runs[-1].status == "completed"
    alert = HotLeadAlert.objects.get()
    assert (alert.score, alert.threshold) == (83, 80)
    assert alert.recipients == [agent.email]
    assert alert.emailed_at is not None
    assert alert.breakdown["events"]["viewing.booked"] == {"count": 1, "points": 30}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [agent.email]
    assert "Olu Adeyemi" in message.subject and "83" in message.subject
    assert "Vendor" in message.body
    assert "viewing.booked: 1 event, 30 points" in message.body
    assert f"/admin/tenants/contact/{vendor.pk}/change/" in message.body
    html = message.alternatives[0][0]
    assert "Olu Adeyemi" in html


def test_staying_hot_does_not_alert_again(pipeline, event_api, tenant, vendor):
    engage(tenant, vendor, "email.reply", minutes_ago=10)
    engage(tenant, vendor, "valuation.booked", minutes_ago=9)
    pipeline.drain()
    engage(tenant, vendor, "email.reply", minutes_ago=1)  # still hot: no new crossing

    runs = pipeline.drain()

    assert runs[-1].output["alert"] == "already hot"
    assert HotLeadAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_the_cooldown_holds_when_the_score_crosses_again_within_24_hours(pipeline, event_api, tenant, vendor):
    engage(tenant, vendor, "email.reply", minutes_ago=10)
    engage(tenant, vendor, "viewing.booked", minutes_ago=9)
    pipeline.drain()
    assert HotLeadAlert.objects.count() == 1
    # The score drops below hot (e.g. an operator lowered it) and crosses again an hour later.
    type(vendor).objects.filter(pk=vendor.pk).update(intent_score=10)
    engage(tenant, vendor, "email.reply", minutes_ago=1)

    runs = pipeline.drain()

    assert runs[-1].output["alert"] == "cooldown"
    assert HotLeadAlert.objects.count() == 1
    assert event_api.names().count(ALERT) == 1


def test_after_the_cooldown_a_new_crossing_alerts_again(pipeline, event_api, tenant, vendor):
    engage(tenant, vendor, "email.reply", minutes_ago=10)
    engage(tenant, vendor, "viewing.booked", minutes_ago=9)
    pipeline.drain()
    HotLeadAlert.objects.update(fired_at=timezone.now() - timedelta(hours=25))
    pipeline.forget_rate_limits()  # 25 hours on, the engine's alert rate limit (an hour) has passed too
    type(vendor).objects.filter(pk=vendor.pk).update(intent_score=10)
    engage(tenant, vendor, "email.reply", minutes_ago=1)

    pipeline.drain()

    assert HotLeadAlert.objects.count() == 2
    assert len(mail.outbox) == 2


def test_opens_alone_never_fire_an_alert(pipeline, event_api, tenant, vendor):
    tenant.category_multipliers = {"vendor": 10.0}
    tenant.save()
    for position in (1, 2, 3):
        engage(tenant, vendor, "email.open", email_position=position)  # (5 + 8 + 5) x 10 = 180

    pipeline.drain()

    vendor.refresh_from_db()
    assert vendor.intent_score == 79
    assert ALERT not in event_api.names()


def test_a_retried_score_step_still_knows_the_threshold_was_crossed(pipeline, event_api, tenant, vendor):
    engage(tenant, vendor, "email.reply")
    pipeline.drain()
    engage(tenant, vendor, "viewing.booked")
    score_event = event_api.received[-1]
    score_run = pipeline.drain()[0]

    replay = pipeline.rerun(score_run)  # the same event again: the stored score is found

    assert replay.output["score"] == 83 and replay.output["previousScore"] < 80
    assert IntentScore.objects.filter(contact=vendor, source_event_id=score_event["id"]).count() == 1
    assert HotLeadAlert.objects.count() == 1  # and the cooldown check stops a second alert


def test_the_tenants_hot_threshold_is_used(pipeline, event_api, tenant, vendor):
    tenant.warm_threshold, tenant.hot_threshold = 20, 40
    tenant.save()
    engage(tenant, vendor, "email.reply")  # 25 x 1.5 = 37.5 -> 38
    engage(tenant, vendor, "email.click", url="https://agency.example/a", email_position=1)  # +15 -> 60

    pipeline.drain()

    alert = HotLeadAlert.objects.get()
    assert (alert.score, alert.threshold) == (60, 40)


def test_an_unassigned_contact_alerts_the_owners_and_admins(pipeline, tenant, make_contact, make_user):
    owner = MembershipFactory(tenant=tenant, role=Membership.Role.OWNER).user
    admin = MembershipFactory(tenant=tenant, role=Membership.Role.ADMIN).user
    MembershipFactory(tenant=tenant, role=Membership.Role.AGENT)
    tenant.alert_recipients = ["sales-desk@agency.example"]
    tenant.save()
    contact = make_contact(tenant=tenant)
    contact.category = "vendor"
    contact.save()
    engage(tenant, contact, "email.reply")
    engage(tenant, contact, "offer.made")

    pipeline.drain()

    assert sorted(mail.outbox[0].to) == sorted([owner.email, admin.email, "sales-desk@agency.example"])


def test_scoring_is_never_run_for_another_tenants_contact(pipeline, tenant, other_tenant, vendor):
    event = wire_event(
        LeadIntentScore(
            tenant_id=other_tenant.id, contact_id=vendor.id, reason="recalculate", occurred_at=timezone.now()
        )
    )

    run = pipeline.run("lead-intent-score", event)

    assert run.status == "failed" and run.failures[0].no_retry
    assert not IntentScore.objects.exists()


def test_the_alert_event_is_logged_with_its_tenant(pipeline, event_api, tenant, vendor):
    engage(tenant, vendor, "email.reply")
    engage(tenant, vendor, "viewing.booked")
    pipeline.drain()

    row = EventLog.objects.get(name=ALERT)
    assert row.tenant_id == tenant.id
    assert row.payload["score"] == 83
    assert row.source.startswith("run:")
