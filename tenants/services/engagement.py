"""Engagement: an open, click, reply or CRM signal stored once, and a re-score asked for after commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.emit import emit
from jobs.events import LeadIntentScore
from tenants.errors import EngagementInvalid
from tenants.models import EngagementEvent, NurtureSequence, Tenant
from tenants.selectors import contact_get

ENGAGEMENT_CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class EngagementRecorded:
    event: EngagementEvent
    created: bool  # False: the provider's event id was seen before; nothing new was stored or emitted


def _check(*, kind: str, occurred_at: datetime, url: str, email_position: int | None, provider_event_id: str) -> None:
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
    if len(provider_event_id) > EngagementEvent._meta.get_field("provider_event_id").max_length:
        raise EngagementInvalid("providerEventId: longer than 200 characters")


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
    provider_event_id = (provider_event_id or "").strip()
    _check(
        kind=kind, occurred_at=occurred_at, url=url, email_position=email_position, provider_event_id=provider_event_id
    )
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
