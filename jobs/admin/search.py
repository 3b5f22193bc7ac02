"""One search box for runs and events: an event id (either format), a run id, a contact's email or name.

Event ids are UUIDs; rows written before the follow-on ids were UUID-shaped hold 32 hex characters, so an id is
looked up in both spellings. A contact is found by email (exact) or name (every word), across agencies: the
operations staff see every agency.
"""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform

from jobs.models import EventLog, JobRun
from tenants.models import Contact

MAX_CONTACTS = 200


def event_id_spellings(term: str) -> list[str]:
    """`0f3c...` and `0f3c...-...`: the dashed UUID and its 32-hex form; anything else as given."""
    try:
        as_uuid = uuid.UUID(term)
    except ValueError:
        return [term]
    return [str(as_uuid), as_uuid.hex]


def contact_ids_matching(term: str) -> list[str]:
    contacts = Contact.objects.all()
    if "@" in term:
        contacts = contacts.filter(email__iexact=term)
    else:
        try:
            return [str(uuid.UUID(term))]
        except ValueError:
            pass
        words = term.split()
        if not words:
            return []
        for word in words:
            contacts = contacts.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    return [str(pk) for pk in contacts.values_list("pk", flat=True)[:MAX_CONTACTS]]


def events_of_contacts(contact_ids: list[str]) -> QuerySet[EventLog]:
    """Uses the expression index on payload->>'contactId'."""
    return EventLog.objects.alias(contact_key=KeyTextTransform("contactId", "payload")).filter(
        contact_key__in=contact_ids
    )


def search_events(queryset: QuerySet[EventLog], term: str) -> QuerySet[EventLog]:
    spellings = event_id_spellings(term)
    match = Q(event_id__in=spellings) | Q(source=f"run:{term}") | Q(name__icontains=term) | Q(tenant__slug=term)
    if spellings[0] != term or len(spellings) == 2:  # a UUID: also a tenant id
        match |= Q(tenant_id=spellings[0])
    run_event = JobRun.objects.filter(run_id=term).values_list("event_log_id", flat=True).first()
    if run_event:
        match |= Q(pk=run_event)
    contact_ids = contact_ids_matching(term)
    if contact_ids:
        match |= Q(pk__in=events_of_contacts(contact_ids).values("pk"))
    return queryset.filter(match)


def search_runs(queryset: QuerySet[JobRun], term: str) -> QuerySet[JobRun]:
    match = Q(run_id=term) | Q(event_id__in=event_id_spellings(term)) | Q(error_type=term)
    contact_ids = contact_ids_matching(term)
    if contact_ids:
        match |= Q(event_log_id__in=events_of_contacts(contact_ids).values("pk"))
    return queryset.filter(match)
