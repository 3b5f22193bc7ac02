"""Functions of the CRM domain: push the contact and a note summarising its sequence through the tenant's adapter.

CRM errors are mapped by the shared policy: rate limits wait the CRM's delay, transient failures back off
(doubling), auth/validation/not-found/conflict fail the run at once (the adapter marks the connection `error`).
"""

from __future__ import annotations

from typing import Any

import inngest

from crm_adapters.base import CrmNote, NoteKind
from crm_adapters.services import crm_add_note, crm_push_contact
from jobs.events import CrmSyncPush
from jobs.observability import run_log_context
from jobs.policy import FunctionCategory
from jobs.steps import crm_connection_for, policy_step, tenant_for_step
from tenants.models import Category, NurtureSequence
from tenants.selectors import contact_get

from .base import job_function

FN_ID = "crm-sync-push"
CRM = FunctionCategory.CRM


@job_function(fn_id=FN_ID, event=CrmSyncPush, category=CRM)
def crm_sync_push(ctx: inngest.ContextSync, event: CrmSyncPush) -> dict[str, Any]:
    """The contact (and its sequence summary) reaches the agency's CRM, never as a second copy."""
    with run_log_context(ctx, function=FN_ID, tenant=event.tenant_id):
        connection = policy_step(ctx, "load-connection", CRM, _load_connection, str(event.tenant_id))
        if connection is None:
            return {"skipped": "no CRM connected"}
        result: dict[str, Any] = {"provider": connection["provider"]}
        if event.push_contact:
            result["contact"] = policy_step(
                ctx, "push-contact", CRM, _push_contact, str(event.tenant_id), str(event.contact_id)
            )
        if event.sequence_id is not None:
            result["note"] = policy_step(
                ctx,
                "add-sequence-note",
                CRM,
                _add_sequence_note,
                str(event.tenant_id),
                str(event.contact_id),
                str(event.sequence_id),
            )
        return result


def _load_connection(tenant_id: str) -> dict[str, Any] | None:
    connection = crm_connection_for(tenant_for_step(tenant_id))
    if connection is None:
        return None
    return {"connection_id": connection.pk, "provider": connection.provider, "status": connection.status}


def _connection_and_contact(tenant_id: str, contact_id: str) -> tuple[Any, Any]:
    tenant = tenant_for_step(tenant_id)
    connection = crm_connection_for(tenant)
    if connection is None:
        # Disconnected between steps: nothing to push to, and retrying cannot change that.
        raise inngest.NonRetriableError("the tenant's CRM connection was removed or disconnected")
    return connection, contact_get(tenant=tenant, contact_id=contact_id)


def _push_contact(tenant_id: str, contact_id: str) -> dict[str, Any]:
    connection, contact = _connection_and_contact(tenant_id, contact_id)
    return crm_push_contact(connection=connection, contact=contact).to_dict()


def _add_sequence_note(tenant_id: str, contact_id: str, sequence_id: str) -> dict[str, Any]:
    connection, contact = _connection_and_contact(tenant_id, contact_id)
    sequence = NurtureSequence.objects.filter(tenant=connection.tenant_id, contact=contact, pk=sequence_id).first()
    if sequence is None:
        raise inngest.NonRetriableError(f"sequence {sequence_id} not found for this contact")
    return crm_add_note(connection=connection, contact=contact, note=sequence_note(sequence)).to_dict()


def sequence_note(sequence: NurtureSequence) -> CrmNote:
    """The note an agent sees in their CRM: which sequence was drafted, its subjects and when each would go."""
    lines = []
    day = 0
    for email in sequence.emails.order_by("position"):
        day += email.send_delay_days
        lines.append(f"{email.position}. Day {day}: {email.subject}")
    label = Category(sequence.category).label
    return CrmNote(
        kind=NoteKind.SEQUENCE_SUMMARY,
        subject=f"NurtureHub: {label} nurture sequence drafted",
        body="Three emails drafted for approval in NurtureHub (nothing is sent without an agent's approval):\n"
        + "\n".join(lines),
        key=f"sequence:{sequence.pk}",
    )
