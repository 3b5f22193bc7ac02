"""What the sequence-generation tests (tests/pipeline/test_generate*.py) share: the event names, the function, and
builders for an assignment and for a `nurture/sequence.generate` event."""

from __future__ import annotations

from django.utils import timezone

from jobs.events import NurtureSequenceGenerate
from tenants.services import contact_assign_category
from tests.pipeline.engine_pipeline import wire_event

GENERATE = "nurture/sequence.generate"
ASSIGNED = "contact/category.assigned"
FN = "nurture-sequence-generate"


def assign(tenant, contact, category="seller"):
    contact_assign_category(tenant=tenant, contact_id=contact.id, category=category)


def generate_event(tenant, contact, category="seller", assignment_id=1):
    return wire_event(
        NurtureSequenceGenerate(
            tenant_id=tenant.id,
            contact_id=contact.id,
            category=category,
            brand_voice=tenant.brand_voice,
            assignment_id=assignment_id,
            source="api",
            triggered_at=timezone.now(),
        )
    )
