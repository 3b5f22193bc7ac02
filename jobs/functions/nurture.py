"""Functions of the nurture domain: the AI-written three-email sequence, steps exactly as the job contract draws.

resolve tenant context -> build AI prompt -> call AI API -> store sequence -> emit crm/sync.push

Flow control (jobs/flow_control.py): a newer `contact/category.assigned` for the same contact cancels a run in
flight (cancel-on); one assignment runs once (idempotency on its id); interactive assignments run ahead of imports
(priority from `source`). What cancel cannot see, a run that starts after the newer assignment was sent (an older
routing run finishing late), is caught by the prompt step, which skips a replaced assignment before the AI call.
"""

from __future__ import annotations

from typing import Any

import inngest
from django.utils import timezone

from jobs.ai.prompts import build_prompt
from jobs.ai.writers import writer_from_settings
from jobs.events import ContactCategoryAssigned, CrmSyncPush, NurtureSequenceGenerate
from jobs.flow_control import CancelOnNewer, FlowControl
from jobs.observability import run_log_context
from jobs.policy import FunctionCategory, PermanentJobError
from jobs.steps import policy_step, release_db_connection, step_emit, step_tenant_context, tenant_for_step
from tenants.models import Category
from tenants.selectors import category_assignment_current, contact_get
from tenants.services import sequence_record_failure, sequence_store

from .base import job_function

FN_ID = "nurture-sequence-generate"
AI = FunctionCategory.AI
FLOW = FlowControl(
    cancel_on_newer=CancelOnNewer(ContactCategoryAssigned, newer_field="assignmentId"),
    idempotent_per="assignmentId",
    interactive_first=True,
)


def _on_generation_failed(ctx: inngest.ContextSync) -> dict[str, Any]:
    """Leave a `failed` sequence behind, so the agent sees that generation gave up (and can re-assign)."""
    original = dict(ctx.event.data.get("event") or {})
    data = dict(original.get("data") or {})
    try:
        payload = NurtureSequenceGenerate.model_validate(data)
    except ValueError:
        return {"recorded": False}
    error = dict(ctx.event.data.get("error") or {})
    with run_log_context(ctx, function=f"{FN_ID}-failure", tenant=payload.tenant_id):
        try:
            tenant = tenant_for_step(payload.tenant_id)
        except PermanentJobError:
            return {"recorded": False}  # the agency is gone: nobody to show the failure to
        stored = sequence_record_failure(
            tenant=tenant,
            contact_id=payload.contact_id,
            category=payload.category,
            source_event_id=str(original.get("id") or ""),
            error=str(error.get("message") or error.get("name") or "generation failed"),
        )
    return {"recorded": stored is not None}


@job_function(fn_id=FN_ID, event=NurtureSequenceGenerate, category=AI, on_failure=_on_generation_failed, flow=FLOW)
def nurture_sequence_generate(ctx: inngest.ContextSync, event: NurtureSequenceGenerate) -> dict[str, Any]:
    """Three emails in the agency's voice, stored as drafts, then synced to the CRM; each step memoized."""
    with run_log_context(ctx, function=FN_ID, tenant=event.tenant_id):
        tenant = step_tenant_context(ctx, event.tenant_id)
        brand_voice = {**tenant["brand_voice"], "text": event.brand_voice}
        prompt = policy_step(
            ctx,
            "build-ai-prompt",
            AI,
            _build_prompt,
            tenant,
            brand_voice,
            str(event.contact_id),
            event.category,
            event.assignment_id,
        )
        if prompt.get("skip"):
            return {"skipped": prompt["skip"]}
        generation = policy_step(ctx, "call-ai-api", AI, _call_ai, prompt)
        stored = policy_step(
            ctx,
            "store-sequence",
            AI,
            _store_sequence,
            str(event.tenant_id),
            str(event.contact_id),
            event.category,
            ctx.event.id or ctx.run_id,  # Inngest always sets an id; the run id guards a bare test event
            generation,
            tenant["email_delays_days"],
            brand_voice,
        )
        result: dict[str, Any] = {**stored, "model": generation["model"]}
        if tenant["crm"] is None or tenant["crm"]["status"] == "disconnected":
            return {**result, "crmSync": "no CRM connected"}
        result["crmSyncEventId"] = step_emit(
            ctx,
            "emit-crm-sync",
            CrmSyncPush,
            {
                "tenant_id": event.tenant_id,
                "contact_id": event.contact_id,
                "push_contact": True,
                "sequence_id": stored["sequenceId"],
                "requested_at": timezone.now(),
            },
            category=AI,
        )
        return result


def _build_prompt(
    tenant: dict[str, Any], brand_voice: dict[str, Any], contact_id: str, category: str, assignment_id: int
) -> dict[str, Any]:
    agency = tenant_for_step(tenant["tenant_id"])
    contact = contact_get(tenant=agency, contact_id=contact_id)
    if contact.is_archived:
        return {"skip": "contact archived"}
    current = category_assignment_current(tenant=agency, contact=contact)
    if current is not None and current.pk != assignment_id:
        # A newer assignment was made before this run started, so its event could not cancel it: skip, unpaid.
        return {"skip": f"assignment {assignment_id} was replaced by assignment {current.pk}"}
    if contact.category != category:
        # Re-categorised since this event was sent: its own run writes the right sequence; do not pay for this one.
        return {"skip": f"contact is now in category {contact.category or '(none)'}"}
    context = [f"Category: {Category(category).label}"]
    if contact.source:
        context.append(f"Came to the agency via: {contact.get_source_display()}")
    return build_prompt(
        category=category,
        agency_name=tenant["name"],
        brand_voice=brand_voice,
        first_name=contact.first_name,
        contact_context=context,
    )


def _call_ai(prompt: dict[str, Any]) -> dict[str, Any]:
    writer = writer_from_settings()
    release_db_connection()  # the provider answers in 5-20 s; no database connection waits with it
    return writer.write(prompt).to_json()


def _store_sequence(
    tenant_id: str,
    contact_id: str,
    category: str,
    source_event_id: str,
    generation: dict[str, Any],
    delays: list[int],
    brand_voice: dict[str, Any],
) -> dict[str, Any]:
    stored = sequence_store(
        tenant=tenant_for_step(tenant_id),
        contact_id=contact_id,
        category=category,
        source_event_id=source_event_id,
        emails=generation["emails"],
        send_delays_days=delays,
        model=generation["model"],
        prompt_tokens=generation["prompt_tokens"],
        completion_tokens=generation["completion_tokens"],
        brand_voice_snapshot=brand_voice,
    )
    return {"sequenceId": str(stored.sequence.id), "status": stored.sequence.status, "created": stored.created}
