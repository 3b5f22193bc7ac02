"""Every Inngest function of the app, in one list for `serve` (one module per domain)."""

from __future__ import annotations

import inngest

from .alerts import alert_hot_lead_fire
from .contacts import contact_category_assigned
from .crm import crm_sync_push
from .nurture import nurture_sequence_generate
from .retention import history_prune
from .scoring import intent_score_decay, lead_intent_score

ALL_FUNCTIONS: list[inngest.Function] = [
    contact_category_assigned,
    nurture_sequence_generate,
    crm_sync_push,
    lead_intent_score,
    alert_hot_lead_fire,
    intent_score_decay,
    history_prune,
]
