"""Functions of the alert domain: a hot lead reaches the agent (or the owners and admins) once, by email."""

from __future__ import annotations

from typing import Any

import inngest

from jobs.events import AlertHotLeadFire
from jobs.flow_control import FlowControl, alert_rate_limit
from jobs.observability import run_log_context
from jobs.policy import FunctionCategory
from jobs.steps import policy_step, tenant_for_step
from tenants.services import hot_lead_alert_create, hot_lead_alert_send_email

from .base import job_function

FN_ID = "alert-hot-lead-fire"
ALERT = FunctionCategory.ALERT


@job_function(
    fn_id=FN_ID, event=AlertHotLeadFire, category=ALERT, flow=FlowControl(rate_limit_per_contact=alert_rate_limit())
)
def alert_hot_lead_fire(ctx: inngest.ContextSync, event: AlertHotLeadFire) -> dict[str, Any]:
    """One alert per event (a retry finds it), outside the contact's cooldown, emailed once.

    The agency's cooldown decides (in `create-alert`, under the contact's row lock); the rate limit per contact
    is a backstop that skips a flood of fire events for one contact before any run starts.
    """
    with run_log_context(ctx, function=FN_ID, tenant=event.tenant_id):
        created = policy_step(
            ctx,
            "create-alert",
            ALERT,
            _create_alert,
            str(event.tenant_id),
            str(event.contact_id),
            event.score,
            event.threshold,
            ctx.event.id or ctx.run_id,
        )
        if created["alertId"] is None:
            return {"skipped": created["skippedReason"]}
        email = policy_step(ctx, "send-alert-email", ALERT, _send_email, str(event.tenant_id), created["alertId"])
        return {**created, "email": email}


def _create_alert(tenant_id: str, contact_id: str, score: int, threshold: int, source_event_id: str) -> dict[str, Any]:
    result = hot_lead_alert_create(
        tenant=tenant_for_step(tenant_id),
        contact_id=contact_id,
        score=score,
        threshold=threshold,
        source_event_id=source_event_id,
    )
    return {
        "alertId": str(result.alert.pk) if result.alert else None,
        "created": result.created,
        "skippedReason": result.skipped_reason,
    }


def _send_email(tenant_id: str, alert_id: str) -> dict[str, Any]:
    return hot_lead_alert_send_email(tenant=tenant_for_step(tenant_id), alert_id=alert_id)
