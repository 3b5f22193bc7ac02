"""Hot-lead alerts: created once per fire event outside the cooldown, emailed once, acknowledged by an agent."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from nurturehub.locks import advisory_lock
from tenants.errors import AlertAlreadyAcknowledged, AlertNotFound, NotAMember
from tenants.models import Category, HotLeadAlert, IntentScore, Tenant
from tenants.selectors import contact_get, hot_lead_alert_recent, hot_lead_alert_recipients, tenant_member_get


@dataclass(frozen=True)
class AlertCreated:
    alert: HotLeadAlert | None
    created: bool
    skipped_reason: str = ""  # "cooldown" when another alert for the contact fired within the cooldown


def hot_lead_alert_create(
    *,
    tenant: Tenant,
    contact_id: Any,
    score: int,
    threshold: int,
    source_event_id: str,
    breakdown: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AlertCreated:
    """Create the alert for one `alert/hot-lead.fire` event, once, and never inside the contact's cooldown.

    The contact row is locked while checking, so two concurrent fires for one contact make one alert.
    """
    if not source_event_id:
        raise ValueError("source_event_id is required: it is what makes a retried alert step find its alert")
    now = now or timezone.now()
    with transaction.atomic():
        contact = contact_get(tenant=tenant, contact_id=contact_id, for_update=True)
        existing = HotLeadAlert.objects.filter(tenant=tenant, source_event_id=source_event_id).first()
        if existing is not None:
            return AlertCreated(existing, created=False)
        if hot_lead_alert_recent(
            tenant=tenant, contact_id=contact.id, cooldown_hours=tenant.alert_cooldown_hours, now=now
        ):
            return AlertCreated(None, created=False, skipped_reason="cooldown")
        if breakdown is None:
            # The breakdown of the score that made the contact hot: why the agent is being alerted.
            latest = IntentScore.objects.filter(tenant=tenant, contact=contact).first()
            breakdown = latest.breakdown if latest else {}
        alert = HotLeadAlert.objects.create(
            tenant=tenant,
            contact=contact,
            score=score,
            threshold=threshold,
            breakdown=breakdown,
            recipients=hot_lead_alert_recipients(tenant=tenant, contact=contact),
            source_event_id=source_event_id,
            fired_at=now,
        )
    return AlertCreated(alert, created=True)


def _one_sender_at_a_time(alert_id: Any) -> AbstractContextManager[None]:
    """A session advisory lock per alert: not a transaction, so no row stays locked while SMTP talks, and
    PostgreSQL releases it by itself if the process dies mid-send."""
    return advisory_lock(f"hot-lead-alert-email:{alert_id}")


def _alert_message(*, tenant: Tenant, alert: HotLeadAlert) -> EmailMultiAlternatives:
    contact = alert.contact
    context = {
        "tenant": tenant,
        "contact": contact,
        "category": Category(contact.category).label if contact.category else "no category",
        "alert": alert,
        "breakdown": sorted((alert.breakdown.get("events") or {}).items()),
        "contact_url": f"{settings.SITE_URL.rstrip('/')}/admin/tenants/contact/{contact.pk}/change/",
    }
    subject = " ".join(render_to_string("emails/hot_lead_alert_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/hot_lead_alert.txt", context),
        to=list(alert.recipients),
        # One Message-ID per alert: should a crash after the send make the retry send again, mail clients
        # recognise the second copy as the same message.
        headers={"Message-ID": f"<hot-lead-alert-{alert.pk}@{urlsplit(settings.SITE_URL).hostname or 'nurturehub'}>"},
    )
    message.attach_alternative(render_to_string("emails/hot_lead_alert.html", context), "text/html")
    return message


def hot_lead_alert_send_email(*, tenant: Tenant, alert_id: Any) -> dict[str, Any]:
    """Email the alert's recipients through Django's email framework, once (a sent alert is never re-sent).

    Nothing is held open while the SMTP server is talked to (`EMAIL_TIMEOUT` bounds it): concurrent attempts
    take turns on an advisory lock, and `emailed_at` is written after the send. An attempt that dies before
    sending leaves `emailed_at` empty, so the step's retry sends the one email; only a death between the send
    and that write can send a second copy (same Message-ID), which is the price of never holding a row lock.
    """
    with _one_sender_at_a_time(alert_id):
        alert = HotLeadAlert.objects.select_related("contact").filter(tenant=tenant, pk=alert_id).first()
        if alert is None:
            raise AlertNotFound(f"alert {alert_id} not found")
        if alert.emailed_at is not None:
            return {"sent": False, "reason": "already sent", "recipients": len(alert.recipients)}
        if not alert.recipients:
            return {"sent": False, "reason": "no recipients", "recipients": 0}
        _alert_message(tenant=tenant, alert=alert).send()
        HotLeadAlert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
    return {"sent": True, "recipients": len(alert.recipients)}


def hot_lead_alert_acknowledge(*, tenant: Tenant, alert_id: Any, user: AbstractBaseUser, outcome: str) -> HotLeadAlert:
    """An agent saw the alert and says what came of it (the in-app feed's acknowledge action).

    Idempotent: acknowledging again with the same outcome changes nothing (the first time and user stay); another
    outcome raises AlertAlreadyAcknowledged. The row lock makes two simultaneous acknowledgements agree.
    """
    if outcome not in HotLeadAlert.Outcome.values:
        raise ValidationError(f"outcome: expected one of {HotLeadAlert.Outcome.values}, got {outcome!r}")
    if tenant_member_get(tenant=tenant, user_id=user.pk) is None:
        raise NotAMember("only a member of this agency can acknowledge its alerts")
    with transaction.atomic():
        alert = HotLeadAlert.objects.select_for_update().filter(tenant=tenant, pk=alert_id).first()
        if alert is None:
            raise AlertNotFound(f"alert {alert_id} not found")
        if alert.acknowledged_at is not None:
            if alert.outcome != outcome:
                raise AlertAlreadyAcknowledged(alert)
            return alert
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = user
        alert.outcome = outcome
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "outcome"])
    return alert
