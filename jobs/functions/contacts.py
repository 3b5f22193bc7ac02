"""Functions of the contact domain."""

from __future__ import annotations

import inngest
from django.utils import timezone

from jobs.events import ContactCategoryAssigned, NurtureSequenceGenerate
from jobs.policy import FunctionCategory
from jobs.steps import step_emit, step_tenant_context

from .base import job_function


@job_function(fn_id="contact-category-assigned", event=ContactCategoryAssigned, category=FunctionCategory.ROUTING)
def contact_category_assigned(ctx: inngest.ContextSync, event: ContactCategoryAssigned) -> dict[str, str]:
    """A new category starts a new nurture sequence in the agency's brand voice."""
    tenant = step_tenant_context(ctx, event.tenant_id)
    event_id = step_emit(
        ctx,
        "emit-sequence-generate",
        NurtureSequenceGenerate,
        {
            "tenant_id": event.tenant_id,
            "contact_id": event.contact_id,
            "category": event.category,
            "brand_voice": tenant["brand_voice"]["text"],
            "triggered_at": timezone.now(),
        },
    )
    return {"sequenceGenerateEventId": event_id}
