"""Nurture sequences: stored once per generate event, superseded when the contact is re-categorised."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from tenants.models import Category, CategoryAssignment, Contact, NurtureEmail, NurtureSequence, Tenant
from tenants.selectors import contact_get

logger = logging.getLogger("tenants.services")

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
    """Store a generated three-email sequence as drafts, once per generate event (in the `failed` row a run of that
    event recorded before, when a replay succeeds).

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
        # A `failed` row is the record that an earlier run of this event gave up (sequence_record_failure); a
        # replay reruns that run with the same event, and its sequence takes that row's place.
        if existing is not None and existing.status != NurtureSequence.Status.FAILED:
            return SequenceStored(existing, created=False)
        current = contact.category == category and not contact.is_archived
        if current:
            NurtureSequence.objects.filter(tenant=tenant, contact=contact, status__in=ACTIVE_SEQUENCE_STATUSES).update(
                status=NurtureSequence.Status.SUPERSEDED
            )
        sequence = existing or NurtureSequence(tenant=tenant, source_event_id=source_event_id)
        sequence.contact, sequence.category = contact, category
        sequence.status = NurtureSequence.Status.DRAFT if current else NurtureSequence.Status.SUPERSEDED
        sequence.brand_voice_snapshot = brand_voice_snapshot or {}
        sequence.model, sequence.prompt_tokens, sequence.completion_tokens = (
            model[:100],
            prompt_tokens,
            completion_tokens,
        )
        sequence.save()
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
