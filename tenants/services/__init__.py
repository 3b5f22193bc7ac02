"""Writes and side effects of the tenants app, one module per domain, re-exported here explicitly (Zulip's
`zerver/actions`): callers import from `tenants.services`, never from a module inside it.

Keyword-only, typed, named `<entity>_<verb>`; each runs in one transaction and sends its events after commit.
Reads live in `tenants.selectors`; the errors these raise in `tenants.errors`.
"""

from .agencies import agencies_jobs_pause, membership_add, tenant_create
from .alerts import AlertCreated, hot_lead_alert_acknowledge, hot_lead_alert_create, hot_lead_alert_send_email
from .contacts import (
    CONTACT_FIELDS,
    UpsertResult,
    category_assigned_data,
    category_assignments_record,
    contact_archive,
    contact_assign_category,
    contact_create,
    contact_update,
    contact_upsert_by_email,
    contacts_assign_category_bulk,
)
from .engagement import ENGAGEMENT_CLOCK_SKEW, EngagementRecorded, engagement_record
from .scores import DecayBatch, ScoreStored, intent_score_recompute, intent_scores_decay_batch
from .sequences import (
    ACTIVE_SEQUENCE_STATUSES,
    SequenceStored,
    sequence_record_failure,
    sequence_store,
    sequence_supersede_active,
)

__all__ = [
    "ACTIVE_SEQUENCE_STATUSES",
    "CONTACT_FIELDS",
    "ENGAGEMENT_CLOCK_SKEW",
    "AlertCreated",
    "DecayBatch",
    "EngagementRecorded",
    "ScoreStored",
    "SequenceStored",
    "UpsertResult",
    "agencies_jobs_pause",
    "category_assigned_data",
    "category_assignments_record",
    "contact_archive",
    "contact_assign_category",
    "contact_create",
    "contact_update",
    "contact_upsert_by_email",
    "contacts_assign_category_bulk",
    "engagement_record",
    "hot_lead_alert_acknowledge",
    "hot_lead_alert_create",
    "hot_lead_alert_send_email",
    "intent_score_recompute",
    "intent_scores_decay_batch",
    "membership_add",
    "sequence_record_failure",
    "sequence_store",
    "sequence_supersede_active",
    "tenant_create",
]
