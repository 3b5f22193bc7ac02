"""What the contact's admin page shows beyond its fields: the runs and events about it, its CRM sync status.

Reads only (the admin's selectors for one contact); runs are found through the events whose payload names the
contact (the indexed payload->>'contactId'), so this works the same whichever Inngest server ran them.
"""

from __future__ import annotations

from typing import Any

from django.db.models.fields.json import KeyTextTransform

from crm_adapters.models import CrmConnection, CrmExternalId, CrmSyncLog

from .models import Contact

RECENT = 20


def contact_activity(*, contact: Contact) -> dict[str, Any]:
    from jobs.models import EventLog, JobRun

    events = list(
        EventLog.objects.alias(contact_key=KeyTextTransform("contactId", "payload"))
        .filter(contact_key=str(contact.pk), tenant_id=contact.tenant_id)
        .order_by("-created_at")[:RECENT]
    )
    runs = list(
        JobRun.objects.filter(event_log_id__in=[event.pk for event in events], tenant_id=contact.tenant_id).order_by(
            "-started_at"
        )[:RECENT]
    )
    return {"events": events, "runs": runs, "contact": contact}


def contact_crm_status(*, contact: Contact) -> dict[str, Any]:
    connection = CrmConnection.objects.filter(tenant_id=contact.tenant_id).first()
    if connection is None:
        return {"connection": None}
    external = CrmExternalId.objects.filter(connection=connection, contact=contact).first()
    logs = list(
        CrmSyncLog.objects.filter(connection=connection, internal_id=str(contact.pk)).order_by("-created_at")[:RECENT]
    )
    return {"connection": connection, "external": external, "logs": logs, "contact": contact}
