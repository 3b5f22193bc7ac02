"""Functions of the contact domain: a category assignment starts its nurture sequence."""

from __future__ import annotations

import inngest
from django.utils import timezone

from jobs.events import ContactCategoryAssigned, NurtureSequenceGenerate
from jobs.flow_control import FlowControl
from jobs.observability import run_log_context
from jobs.policy import FunctionCategory
from jobs.steps import policy_step, step_emit, step_tenant_context, tenant_for_step
from tenants.services import sequence_supersede_active

from .base import job_function

FN_ID = "contact-category-assigned"


@job_function(
    fn_id=FN_ID,
    event=ContactCategoryAssigned,
    category=FunctionCategory.ROUTING,
    flow=FlowControl(interactive_first=True),
)
def contact_category_assigned(ctx: inngest.ContextSync, event: ContactCategoryAssigned) -> dict[str, str]:
    """A new category starts a new nurture sequence in the agency's brand voice; the old one is superseded."""
    with run_log_context(ctx, function=FN_ID, tenant=event.tenant_id):
        tenant = step_tenant_context(ctx, event.tenant_id)
        # An older generation still running is cancelled by this very event (nurture-sequence-generate's
        # cancel-on); what cancel cannot reach is a sequence an older generation already stored: retired here.
        policy_step(
            ctx,
            "supersede-previous-sequence",
            FunctionCategory.ROUTING,
            _supersede_previous_sequence,
            str(event.tenant_id),
            str(event.contact_id),
            event.assignment_id,
        )
        event_id = step_emit(
            ctx,
            "emit-sequence-generate",
            NurtureSequenceGenerate,
            {
                "tenant_id": event.tenant_id,
                "contact_id": event.contact_id,
                "category": event.category,
                "brand_voice": tenant["brand_voice"]["text"],
                "assignment_id": event.assignment_id,
                "source": event.source,
                "triggered_at": timezone.now(),
            },
            category=FunctionCategory.ROUTING,
        )
        return {"sequenceGenerateEventId": event_id}


def _supersede_previous_sequence(tenant_id: str, contact_id: str, assignment_id: int) -> dict[str, int]:
    superseded = sequence_supersede_active(
        tenant=tenant_for_step(tenant_id), contact_id=contact_id, assignment_id=assignment_id
    )
    return {"superseded": superseded}
