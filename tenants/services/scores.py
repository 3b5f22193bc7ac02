"""Intent scores: recomputed from all of a contact's engagement once per event, and decayed daily in batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from tenants.models import Contact, EngagementEvent, IntentScore, Tenant
from tenants.scoring import IDLE_DAYS_BEFORE_DECAY, ScoreResult, Signal, compute_score
from tenants.selectors import contact_get


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
