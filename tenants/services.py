"""Writes and side effects for tenants and contacts. Keyword-only, typed, one transaction each."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from jobs.emit import emit
from jobs.events import ContactCategoryAssigned, LeadIntentScore

from .models import (
    Category,
    CategoryAssignment,
    Contact,
    EngagementEvent,
    HotLeadAlert,
    IntentScore,
    Membership,
    NurtureEmail,
    NurtureSequence,
    Tenant,
)
from .scoring import IDLE_DAYS_BEFORE_DECAY, ScoreResult, Signal, compute_score
from .selectors import contact_get, contact_get_by_email, tenant_member_get, tenant_recipients_for_alerts

logger = logging.getLogger(__name__)

CONTACT_FIELDS = frozenset(
    {"first_name", "last_name", "email", "phone", "address", "source", "consent_status", "assigned_agent_id"}
)


class ContactEmailTaken(ValueError):
    """Another contact of this agency already has this email address."""


class AgentNotInTenant(ValueError):
    """The assigned agent is not a member of this agency."""


def tenant_create(
    *,
    name: str,
    slug: str,
    brand_voice: str,
    owner: AbstractBaseUser | None = None,
    **settings: Any,
) -> Tenant:
    with transaction.atomic():
        tenant = Tenant(name=name, slug=slug, brand_voice=brand_voice, **settings)
        tenant.full_clean()
        tenant.save()
        if owner is not None:
            Membership.objects.create(user=owner, tenant=tenant, role=Membership.Role.OWNER)
    return tenant


def membership_add(*, tenant: Tenant, user: AbstractBaseUser, role: str = Membership.Role.AGENT) -> Membership:
    membership, _ = Membership.objects.update_or_create(tenant=tenant, user=user, defaults={"role": role})
    return membership


def _clean_contact_fields(*, tenant: Tenant, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise TypeError(f"unknown contact fields: {', '.join(sorted(unknown))}")
    cleaned = dict(fields)
    if "email" in cleaned:
        cleaned["email"] = cleaned["email"].strip()
    agent_id = cleaned.get("assigned_agent_id")
    if agent_id is not None and tenant_member_get(tenant=tenant, user_id=agent_id) is None:
        raise AgentNotInTenant(f"user {agent_id} is not a member of {tenant.slug}")
    return cleaned


def _save_contact(contact: Contact, *, update_fields: list[str] | None = None) -> Contact:
    contact.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            contact.save(update_fields=update_fields)
    except IntegrityError as error:
        if "contact_unique_email_per_tenant" in str(error):
            raise ContactEmailTaken(f"{contact.email} is already a contact of this agency") from error
        raise
    return contact


def contact_create(*, tenant: Tenant, **fields: Any) -> Contact:
    cleaned = _clean_contact_fields(tenant=tenant, fields=fields)
    if "consent_status" in cleaned:
        cleaned.setdefault("consent_updated_at", timezone.now())
    return _save_contact(Contact(tenant=tenant, **cleaned))


def contact_update(*, tenant: Tenant, contact: Contact, **fields: Any) -> Contact:
    if contact.tenant_id != tenant.id:
        raise PermissionError("contact belongs to another tenant")
    cleaned = _clean_contact_fields(tenant=tenant, fields=fields)
    changed = [name for name, value in cleaned.items() if getattr(contact, name) != value]
    if not changed:
        return contact
    for name in changed:
        setattr(contact, name, cleaned[name])
    if "consent_status" in changed:
        contact.consent_updated_at = timezone.now()
        changed.append("consent_updated_at")
    return _save_contact(contact, update_fields=[*changed, "updated_at"])


@dataclass(frozen=True)
class UpsertResult:
    contact: Contact
    outcome: str  # "created", "updated" or "unchanged"


def contact_upsert_by_email(*, tenant: Tenant, email: str, **fields: Any) -> UpsertResult:
    """Create the contact, or update the one with this email (case-insensitive) in this tenant."""
    existing = contact_get_by_email(tenant=tenant, email=email)
    if existing is None:
        return UpsertResult(contact_create(tenant=tenant, email=email, **fields), "created")
    before = {name: getattr(existing, name) for name in fields}
    contact = contact_update(tenant=tenant, contact=existing, **fields)
    changed = any(getattr(contact, name) != value for name, value in before.items())
    return UpsertResult(contact, "updated" if changed else "unchanged")


def contact_archive(*, tenant: Tenant, contact: Contact) -> Contact:
    if contact.tenant_id != tenant.id:
        raise PermissionError("contact belongs to another tenant")
    if not contact.is_archived:
        contact.is_archived = True
        contact.archived_at = timezone.now()
        contact.save(update_fields=["is_archived", "archived_at", "updated_at"])
    return contact


def category_assigned_data(assignment: CategoryAssignment) -> dict[str, Any]:
    """The `contact/category.assigned` payload of a history row: one shape for single and bulk assignment."""
    return {
        "tenant_id": assignment.tenant_id,
        "contact_id": assignment.contact_id,
        "category": assignment.to_category,
        "previous_category": assignment.from_category or None,
        "assignment_id": assignment.pk,
        "assigned_by": assignment.assigned_by_id,
        "source": assignment.source,
        "assigned_at": assignment.assigned_at,
    }


def contact_assign_category(
    *,
    tenant: Tenant,
    contact_id: Any,
    category: str,
    assigned_by: AbstractBaseUser | None = None,
    source: str = CategoryAssignment.Source.MANUAL,
) -> CategoryAssignment | None:
    """Assign a category: history row + contact update + `contact/category.assigned`, in one transaction.

    The event is sent only once the transaction commits. Assigning the category the contact already has
    changes nothing and emits nothing (returns None), so re-running an import is harmless.
    """
    category = Category(category)
    if source not in CategoryAssignment.Source.values:
        raise ValidationError(f"unknown assignment source {source!r}")
    with transaction.atomic():
        contact = contact_get(tenant=tenant, contact_id=contact_id, for_update=True)
        if contact.category == category:
            return None
        now = timezone.now()
        CategoryAssignment.objects.filter(contact=contact, superseded_at__isnull=True).update(superseded_at=now)
        assignment = CategoryAssignment.objects.create(
            tenant=tenant,
            contact=contact,
            from_category=contact.category,
            to_category=category,
            assigned_by=assigned_by,
            source=source,
            assigned_at=now,
        )
        contact.category = category
        contact.save(update_fields=["category", "updated_at"])
        emit(ContactCategoryAssigned, category_assigned_data(assignment), source=f"tenants:{source}")
    return assignment


# --- The agent pipeline: engagement, sequences, intent scores, hot-lead alerts ------------------------------


class EngagementInvalid(ValidationError):
    """An engagement event that cannot be stored as given (the message says which field and why)."""


@dataclass(frozen=True)
class EngagementRecorded:
    event: EngagementEvent
    created: bool  # False: the provider's event id was seen before; nothing new was stored or emitted


def engagement_record(
    *,
    tenant: Tenant,
    contact_id: Any,
    kind: str,
    occurred_at: datetime,
    url: str = "",
    email_position: int | None = None,
    sequence_id: Any = None,
    provider_event_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> EngagementRecorded:
    """Store one engagement event and ask for a re-score (`lead/intent.score`, sent after commit).

    The same `provider_event_id` twice (a webhook delivered again) is one engagement: the second call returns
    the stored event and emits nothing.
    """
    if kind not in EngagementEvent.Kind.values:
        raise EngagementInvalid(f"kind: unknown engagement {kind!r}; expected one of {EngagementEvent.Kind.values}")
    if timezone.is_naive(occurred_at):
        raise EngagementInvalid("occurredAt: needs a timezone")
    if occurred_at > timezone.now() + ENGAGEMENT_CLOCK_SKEW:
        raise EngagementInvalid("occurredAt: is in the future")
    if kind == EngagementEvent.Kind.EMAIL_CLICK and not url:
        raise EngagementInvalid("url: a click needs the URL that was clicked")
    if email_position is not None and email_position not in (1, 2, 3):
        raise EngagementInvalid("emailPosition: must be 1, 2 or 3")
    provider_event_id = (provider_event_id or "").strip()
    if len(provider_event_id) > EngagementEvent._meta.get_field("provider_event_id").max_length:
        raise EngagementInvalid("providerEventId: longer than 200 characters")
    if provider_event_id:
        existing = EngagementEvent.objects.filter(tenant=tenant, provider_event_id=provider_event_id).first()
        if existing is not None:
            return EngagementRecorded(existing, created=False)
    with transaction.atomic():
        contact = contact_get(tenant=tenant, contact_id=contact_id)
        sequence = None
        if sequence_id is not None:
            sequence = NurtureSequence.objects.filter(tenant=tenant, contact=contact, pk=sequence_id).first()
            if sequence is None:
                raise EngagementInvalid(f"sequenceId: no sequence {sequence_id} for this contact")
        event = EngagementEvent(
            tenant=tenant,
            contact=contact,
            kind=kind,
            sequence=sequence,
            email_position=email_position,
            url=url or "",
            provider_event_id=provider_event_id,
            metadata=metadata or {},
            occurred_at=occurred_at,
        )
        event.full_clean(exclude=["tenant", "contact", "sequence"], validate_constraints=False)
        try:
            with transaction.atomic():
                event.save()
        except IntegrityError:
            # Another delivery of the same provider event won the race: it is the same engagement.
            duplicate = EngagementEvent.objects.filter(tenant=tenant, provider_event_id=provider_event_id).first()
            if duplicate is None:
                raise
            return EngagementRecorded(duplicate, created=False)
        emit(
            LeadIntentScore,
            {
                "tenant_id": tenant.id,
                "contact_id": contact.id,
                "reason": "engagement",
                "engagement_event_id": event.id,
                "occurred_at": occurred_at,
            },
            source="tenants:engagement",
        )
    return EngagementRecorded(event, created=True)


ENGAGEMENT_CLOCK_SKEW = timedelta(minutes=10)
ACTIVE_SEQUENCE_STATUSES = (
    NurtureSequence.Status.GENERATING,
    NurtureSequence.Status.DRAFT,
    NurtureSequence.Status.APPROVED,
)


def sequence_supersede_active(*, tenant: Tenant, contact_id: Any, assignment_id: int | None = None) -> int:
    """Mark the contact's live sequences superseded (re-categorised: a new one is coming); returns how many.

    Given the assignment that asked, only sequences older than it are superseded, and nothing at all once a
    newer assignment has replaced it: runs for quick successive re-assignments may finish in any order, and a
    late one must not retire the sequence that the newest assignment already produced.
    """
    contact = contact_get(tenant=tenant, contact_id=contact_id)
    sequences = NurtureSequence.objects.filter(tenant=tenant, contact=contact, status__in=ACTIVE_SEQUENCE_STATUSES)
    if assignment_id is not None:
        assignment = CategoryAssignment.objects.filter(tenant=tenant, contact=contact, pk=assignment_id).first()
        if assignment is None or assignment.superseded_at is not None:
            return 0
        sequences = sequences.filter(created_at__lt=assignment.assigned_at)
    return sequences.update(status=NurtureSequence.Status.SUPERSEDED)


@dataclass(frozen=True)
class SequenceStored:
    sequence: NurtureSequence
    created: bool  # False: a retried store step found the sequence its event already made


def sequence_store(
    *,
    tenant: Tenant,
    contact_id: Any,
    category: str,
    source_event_id: str,
    emails: list[dict[str, str]],
    send_delays_days: list[int],
    model: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    brand_voice_snapshot: dict[str, Any] | None = None,
) -> SequenceStored:
    """Store a generated three-email sequence as drafts, once per generate event.

    If the contact has moved to another category meanwhile, the sequence is stored already superseded (it is
    kept, for the record, but never offered for approval); otherwise it replaces the contact's live sequences.
    """
    if not source_event_id:
        raise ValueError("source_event_id is required: it is what makes a retried store find its sequence")
    if len(emails) != 3 or len(send_delays_days) != 3:
        raise ValueError(f"a sequence has exactly 3 emails and 3 delays, got {len(emails)} and {len(send_delays_days)}")
    category = Category(category)
    with transaction.atomic():
        contact = contact_get(tenant=tenant, contact_id=contact_id, for_update=True)
        existing = NurtureSequence.objects.filter(tenant=tenant, source_event_id=source_event_id).first()
        if existing is not None:
            return SequenceStored(existing, created=False)
        current = contact.category == category and not contact.is_archived
        if current:
            NurtureSequence.objects.filter(tenant=tenant, contact=contact, status__in=ACTIVE_SEQUENCE_STATUSES).update(
                status=NurtureSequence.Status.SUPERSEDED
            )
        sequence = NurtureSequence.objects.create(
            tenant=tenant,
            contact=contact,
            category=category,
            status=NurtureSequence.Status.DRAFT if current else NurtureSequence.Status.SUPERSEDED,
            brand_voice_snapshot=brand_voice_snapshot or {},
            model=model[:100],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            source_event_id=source_event_id,
        )
        rows = []
        for position, (email, delay) in enumerate(zip(emails, send_delays_days, strict=True), start=1):
            row = NurtureEmail(
                sequence=sequence,
                position=position,
                subject=email["subject"],
                preview_text=email["preview_text"],
                body_html=email["body_html"],
                body_text=email["body_text"],
                send_delay_days=delay,
            )
            row.full_clean(exclude=["sequence"], validate_constraints=False)
            rows.append(row)
        NurtureEmail.objects.bulk_create(rows)
    return SequenceStored(sequence, created=True)


def sequence_record_failure(
    *, tenant: Tenant, contact_id: Any, category: str, source_event_id: str, error: str
) -> NurtureSequence | None:
    """Record that generation for one event gave up: a `failed` sequence with no emails (agents see it).

    A sequence the event already stored is left as it is; an unknown contact or event id records nothing.
    """
    contact = Contact.objects.for_tenant(tenant).filter(pk=contact_id).first()
    if contact is None or not source_event_id:
        return None
    sequence, created = NurtureSequence.objects.get_or_create(
        tenant=tenant,
        source_event_id=source_event_id,
        defaults={"contact": contact, "category": Category(category), "status": NurtureSequence.Status.FAILED},
    )
    if created:
        logger.warning("sequence generation failed", extra={"sequence_id": str(sequence.id), "error": error[:500]})
    return sequence


def _signals_for(events: Any) -> list[Signal]:
    return [
        Signal(
            kind=event.kind,
            occurred_at=event.occurred_at,
            email_position=event.email_position,
            sequence_id=str(event.sequence_id) if event.sequence_id else None,
            url=event.url,
        )
        for event in events
    ]


def _score_for(*, tenant: Tenant, contact: Contact, events: Any, now: datetime) -> ScoreResult:
    return compute_score(
        signals=_signals_for(events),
        category=contact.category,
        now=now,
        warm_threshold=tenant.warm_threshold,
        hot_threshold=tenant.hot_threshold,
        multipliers=tenant.category_multipliers,
    )


@dataclass(frozen=True)
class ScoreStored:
    score: IntentScore
    previous_score: int
    created: bool  # False: a retried step found the score its event already stored


def intent_score_recompute(
    *, tenant: Tenant, contact_id: Any, reason: str, source_event_id: str = "", now: datetime | None = None
) -> ScoreStored:
    """Recompute a contact's score from all its engagement, store it with its breakdown, once per event."""
    now = now or timezone.now()
    with transaction.atomic():
        contact = contact_get(tenant=tenant, contact_id=contact_id, for_update=True)
        if source_event_id:
            existing = IntentScore.objects.filter(tenant=tenant, source_event_id=source_event_id).first()
            if existing is not None:
                previous = existing.previous_score if existing.previous_score is not None else existing.score
                return ScoreStored(existing, previous_score=previous, created=False)
        events = EngagementEvent.objects.filter(tenant=tenant, contact=contact).only(
            "kind", "occurred_at", "email_position", "sequence_id", "url"
        )
        result = _score_for(tenant=tenant, contact=contact, events=events, now=now)
        previous = contact.intent_score
        row = IntentScore.objects.create(
            tenant=tenant,
            contact=contact,
            score=result.score,
            band=result.band,
            breakdown=result.breakdown,
            reason=reason[:100],
            previous_score=previous,
            source_event_id=source_event_id,
            computed_at=now,
        )
        if contact.intent_score != result.score:
            contact.intent_score = result.score
            contact.save(update_fields=["intent_score", "updated_at"])
    return ScoreStored(row, previous_score=previous, created=True)


@dataclass(frozen=True)
class DecayBatch:
    examined: int
    decayed: int
    last_contact_id: str | None


def intent_scores_decay_batch(*, after_contact_id: str | None, batch_size: int, now: datetime) -> DecayBatch:
    """The daily decay, one batch: contacts (of every tenant) with a score and 30+ idle days, re-scored.

    Cross-tenant on purpose: it is the platform's cron, not a tenant's request; each contact is scored with its
    own tenant's settings and every row written carries that tenant.
    """
    idle_since = now - timedelta(days=IDLE_DAYS_BEFORE_DECAY)
    candidates = (
        Contact.objects.filter(intent_score__gt=0)
        .exclude(engagement_events__occurred_at__gte=idle_since)
        .select_related("tenant")
        .order_by("id")
    )
    if after_contact_id:
        candidates = candidates.filter(id__gt=after_contact_id)
    contacts = list(candidates[:batch_size])
    if not contacts:
        return DecayBatch(examined=0, decayed=0, last_contact_id=None)
    events_by_contact: dict[Any, list[EngagementEvent]] = {}
    for event in EngagementEvent.objects.filter(contact__in=contacts).only(
        "contact_id", "kind", "occurred_at", "email_position", "sequence_id", "url"
    ):
        events_by_contact.setdefault(event.contact_id, []).append(event)
    scores: list[IntentScore] = []
    changed: list[Contact] = []
    for contact in contacts:
        result = _score_for(
            tenant=contact.tenant, contact=contact, events=events_by_contact.get(contact.id, []), now=now
        )
        if result.score == contact.intent_score:
            continue
        scores.append(
            IntentScore(
                tenant=contact.tenant,
                contact=contact,
                score=result.score,
                band=result.band,
                breakdown=result.breakdown,
                reason="decay",
                previous_score=contact.intent_score,
                computed_at=now,
            )
        )
        contact.intent_score = result.score
        contact.updated_at = now
        changed.append(contact)
    with transaction.atomic():
        IntentScore.objects.bulk_create(scores)
        Contact.objects.bulk_update(changed, ["intent_score", "updated_at"])
    return DecayBatch(examined=len(contacts), decayed=len(changed), last_contact_id=str(contacts[-1].id))


def hot_lead_alert_recent(*, tenant: Tenant, contact_id: Any, cooldown_hours: int, now: datetime) -> bool:
    """Whether an alert for this contact fired within the cooldown (then no new one may fire)."""
    return HotLeadAlert.objects.filter(
        tenant=tenant, contact_id=contact_id, fired_at__gt=now - timedelta(hours=cooldown_hours)
    ).exists()


@dataclass(frozen=True)
class AlertCreated:
    alert: HotLeadAlert | None
    created: bool
    skipped_reason: str = ""  # "cooldown" when another alert for the contact fired within the cooldown


def hot_lead_alert_recipients(*, tenant: Tenant, contact: Contact) -> list[str]:
    """The assigned agent (if still a member with an address), else the owners and admins; plus the extras."""
    recipients: list[str] = []
    agent = tenant_member_get(tenant=tenant, user_id=contact.assigned_agent_id) if contact.assigned_agent_id else None
    if agent is not None and agent.email:
        recipients.append(agent.email)
    else:
        recipients.extend(tenant_recipients_for_alerts(tenant=tenant))
    for extra in tenant.alert_recipients or []:
        if extra and extra not in recipients:
            recipients.append(extra)
    return recipients


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


def hot_lead_alert_send_email(*, tenant: Tenant, alert_id: Any) -> dict[str, Any]:
    """Email the alert's recipients through Django's email framework, once (a sent alert is never re-sent)."""
    with transaction.atomic():
        alert = (
            HotLeadAlert.objects.select_for_update()
            .select_related("contact")
            .filter(tenant=tenant, pk=alert_id)
            .first()
        )
        if alert is None:
            raise LookupError(f"alert {alert_id} not found")
        if alert.emailed_at is not None:
            return {"sent": False, "reason": "already sent", "recipients": len(alert.recipients)}
        if not alert.recipients:
            return {"sent": False, "reason": "no recipients", "recipients": 0}
        contact = alert.contact
        context = {
            "tenant": tenant,
            "contact": contact,
            "category": Category(contact.category).label if contact.category else "no category",
            "alert": alert,
            "breakdown": sorted((alert.breakdown.get("events") or {}).items()),
            "contact_url": f"{django_settings.SITE_URL.rstrip('/')}/admin/tenants/contact/{contact.pk}/change/",
        }
        subject = " ".join(render_to_string("emails/hot_lead_alert_subject.txt", context).split())
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("emails/hot_lead_alert.txt", context),
            to=list(alert.recipients),
        )
        message.attach_alternative(render_to_string("emails/hot_lead_alert.html", context), "text/html")
        message.send()
        alert.emailed_at = timezone.now()
        alert.save(update_fields=["emailed_at"])
    return {"sent": True, "recipients": len(alert.recipients)}


class AlertAlreadyAcknowledged(ValueError):
    """The alert was already acknowledged with another outcome."""

    def __init__(self, alert: HotLeadAlert) -> None:
        self.alert = alert
        super().__init__(f"Already acknowledged with outcome {alert.outcome!r}.")


def hot_lead_alert_acknowledge(*, tenant: Tenant, alert_id: Any, user: AbstractBaseUser, outcome: str) -> HotLeadAlert:
    """An agent saw the alert and says what came of it (the in-app feed's acknowledge action).

    Idempotent: acknowledging again with the same outcome changes nothing (the first time and user stay); another
    outcome raises AlertAlreadyAcknowledged. The row lock makes two simultaneous acknowledgements agree.
    """
    if outcome not in HotLeadAlert.Outcome.values:
        raise ValidationError(f"outcome: expected one of {HotLeadAlert.Outcome.values}, got {outcome!r}")
    if tenant_member_get(tenant=tenant, user_id=user.pk) is None:
        raise PermissionError("only a member of this agency can acknowledge its alerts")
    with transaction.atomic():
        alert = HotLeadAlert.objects.select_for_update().filter(tenant=tenant, pk=alert_id).first()
        if alert is None:
            raise LookupError(f"alert {alert_id} not found")
        if alert.acknowledged_at is not None:
            if alert.outcome != outcome:
                raise AlertAlreadyAcknowledged(alert)
            return alert
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = user
        alert.outcome = outcome
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "outcome"])
    return alert
