"""alert/hot-lead.fire through the real serve endpoint: one alert per event, emailed once, right recipients."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs.events import AlertHotLeadFire
from jobs.policy import FunctionCategory, policy_for
from tenants.errors import AlertAlreadyAcknowledged, AlertNotFound, NotAMember
from tenants.models import HotLeadAlert, Membership
from tenants.services import hot_lead_alert_acknowledge
from tests.factories import ContactFactory, MembershipFactory
from tests.pipeline.email_backends import HangsUpOnceBackend
from tests.pipeline.engine_pipeline import wire_event

pytestmark = pytest.mark.django_db(transaction=True)

FN = "alert-hot-lead-fire"


@pytest.fixture
def hot_contact(tenant, make_contact, agent):
    contact = make_contact(tenant=tenant, first_name="Grace", last_name="Hopper", assigned_agent=agent)
    contact.category = "seller"
    contact.intent_score = 91
    contact.save()
    return contact


def fire(tenant, contact, score=91):
    return wire_event(
        AlertHotLeadFire(tenant_id=tenant.id, contact_id=contact.id, score=score, threshold=80, fired_at=timezone.now())
    )


def test_an_alert_is_created_and_emailed_to_the_agent(pipeline, tenant, hot_contact, agent):
    run = pipeline.run(FN, fire(tenant, hot_contact))

    assert run.status == "completed"
    assert run.steps == ["create-alert", "send-alert-email"]
    alert = HotLeadAlert.objects.get()
    assert alert.tenant_id == tenant.id and alert.recipients == [agent.email]
    assert [message.to for message in mail.outbox] == [[agent.email]]
    assert "Seller" in mail.outbox[0].body


def test_replaying_the_event_creates_no_second_alert_and_sends_no_second_email(pipeline, tenant, hot_contact):
    event = fire(tenant, hot_contact)

    first = pipeline.run(FN, event)
    replay = pipeline.rerun(first)  # an operator's replay: a new run of the same event

    assert replay.output["created"] is False
    assert replay.output["email"] == {"sent": False, "reason": "already sent", "recipients": 1}
    assert HotLeadAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_an_smtp_failure_retries_the_email_step_only_and_sends_once(pipeline, tenant, hot_contact, settings):
    settings.EMAIL_BACKEND = "tests.pipeline.email_backends.HangsUpOnceBackend"
    HangsUpOnceBackend.attempts = 0

    run = pipeline.run(FN, fire(tenant, hot_contact))

    assert run.status == "completed"
    assert len(run.failures) == 1
    expected = policy_for(FunctionCategory.ALERT).backoff(0).total_seconds()
    assert run.failures[0].retry_after_seconds == pytest.approx(expected, abs=1.0)
    assert run.steps.count("create-alert") == 1
    assert HotLeadAlert.objects.count() == 1
    assert len(mail.outbox) == 1
    assert HotLeadAlert.objects.get().emailed_at is not None


def test_a_second_fire_within_the_cooldown_creates_nothing(pipeline, tenant, hot_contact):
    pipeline.run(FN, fire(tenant, hot_contact))
    pipeline.forget_rate_limits()  # past the engine's backstop: the agency's cooldown is what is tested here
    second = pipeline.run(FN, fire(tenant, hot_contact, score=95))  # another event, an hour's worth of minutes later

    assert second.output == {"skipped": "cooldown"}
    assert HotLeadAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_without_an_assigned_agent_the_owners_and_admins_are_alerted(pipeline, tenant, make_contact):
    owner = MembershipFactory(tenant=tenant, role=Membership.Role.OWNER).user
    admin = MembershipFactory(tenant=tenant, role=Membership.Role.ADMIN).user
    MembershipFactory(tenant=tenant, role=Membership.Role.AGENT)
    contact = make_contact(tenant=tenant)

    pipeline.run(FN, fire(tenant, contact))

    assert sorted(mail.outbox[0].to) == sorted([owner.email, admin.email])


def test_an_agent_who_left_the_agency_is_not_alerted(pipeline, tenant, hot_contact, agent):
    owner = MembershipFactory(tenant=tenant, role=Membership.Role.OWNER).user
    Membership.objects.filter(user=agent).delete()

    pipeline.run(FN, fire(tenant, hot_contact))

    assert mail.outbox[0].to == [owner.email]


def test_no_recipients_still_records_the_alert(pipeline, tenant, make_contact):
    contact = make_contact(tenant=tenant)

    run = pipeline.run(FN, fire(tenant, contact))

    assert run.status == "completed"
    assert run.output["email"] == {"sent": False, "reason": "no recipients", "recipients": 0}
    assert HotLeadAlert.objects.count() == 1
    assert mail.outbox == []


def test_an_alert_for_another_tenants_contact_is_refused(pipeline, other_tenant, hot_contact):
    run = pipeline.run(FN, fire(other_tenant, hot_contact))

    assert run.status == "failed" and run.failures[0].no_retry
    assert not HotLeadAlert.objects.exists()
    assert mail.outbox == []


def test_acknowledging_records_who_and_the_outcome(pipeline, tenant, hot_contact, agent):
    pipeline.run(FN, fire(tenant, hot_contact))
    alert = HotLeadAlert.objects.get()

    hot_lead_alert_acknowledge(tenant=tenant, alert_id=alert.pk, user=agent, outcome="booked")

    alert.refresh_from_db()
    assert alert.outcome == "booked" and alert.acknowledged_by == agent and alert.acknowledged_at is not None


def test_acknowledging_needs_a_member_a_known_outcome_and_the_right_tenant(
    pipeline, tenant, other_tenant, hot_contact, agent, make_user
):
    pipeline.run(FN, fire(tenant, hot_contact))
    alert = HotLeadAlert.objects.get()

    with pytest.raises(ValidationError):
        hot_lead_alert_acknowledge(tenant=tenant, alert_id=alert.pk, user=agent, outcome="sold-it")
    with pytest.raises(NotAMember):
        hot_lead_alert_acknowledge(tenant=tenant, alert_id=alert.pk, user=make_user(), outcome="booked")
    outsider = MembershipFactory(tenant=other_tenant).user
    with pytest.raises(AlertNotFound):
        hot_lead_alert_acknowledge(tenant=other_tenant, alert_id=alert.pk, user=outsider, outcome="booked")
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_acknowledge_again_with_the_same_outcome_keeps_the_first_acknowledgement(tenant, make_user):
    agent = MembershipFactory(tenant=tenant).user
    colleague = MembershipFactory(tenant=tenant).user
    contact = ContactFactory(tenant=tenant)
    alert = HotLeadAlert.objects.create(
        tenant=tenant, contact=contact, score=85, threshold=80, source_event_id="evt-ack", fired_at=timezone.now()
    )
    first = hot_lead_alert_acknowledge(tenant=tenant, alert_id=alert.pk, user=agent, outcome="booked")
    again = hot_lead_alert_acknowledge(tenant=tenant, alert_id=alert.pk, user=colleague, outcome="booked")
    assert (again.acknowledged_at, again.acknowledged_by_id) == (first.acknowledged_at, agent.pk)
    with pytest.raises(AlertAlreadyAcknowledged, match="booked"):
        hot_lead_alert_acknowledge(tenant=tenant, alert_id=alert.pk, user=colleague, outcome="no-answer")
