"""Functions of the scoring domain: re-score on engagement (and alert when hot), and the daily decay cron."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import inngest
from django.conf import settings
from django.utils import timezone

from jobs.client import inngest_client
from jobs.events import AlertHotLeadFire, LeadIntentScore
from jobs.flow_control import FlowControl, score_debounce
from jobs.observability import run_log_context
from jobs.policy import FunctionCategory, policy_for
from jobs.steps import policy_step, step_emit, step_tenant_context, tenant_for_step
from tenants.selectors import hot_lead_alert_recent
from tenants.services import intent_score_recompute, intent_scores_decay_batch

from .base import job_function, with_failure_recorder

FN_ID = "lead-intent-score"
DECAY_FN_ID = "intent-score-decay"
SCORING = FunctionCategory.SCORING
# Inngest allows 1,000 steps per run; the cron stops well short and the next day's run carries on.
MAX_DECAY_BATCHES = 900


@job_function(
    fn_id=FN_ID, event=LeadIntentScore, category=SCORING, flow=FlowControl(debounce_per_contact=score_debounce())
)
def lead_intent_score(ctx: inngest.ContextSync, event: LeadIntentScore) -> dict[str, Any]:
    """Score from all engagement, stored with its breakdown; crossing the hot threshold fires one alert.

    Debounced per contact: a burst of engagement starts one run, with the burst's last event; every engagement
    row is stored when it arrives (tenants.services.engagement_record), and the score reads them all.
    """
    with run_log_context(ctx, function=FN_ID, tenant=event.tenant_id):
        tenant = step_tenant_context(ctx, event.tenant_id)
        stored = policy_step(
            ctx,
            "compute-and-store-score",
            SCORING,
            _compute_and_store,
            str(event.tenant_id),
            str(event.contact_id),
            event.reason,
            ctx.event.id or ctx.run_id,
        )
        hot = tenant["thresholds"]["hot"]
        result: dict[str, Any] = {**stored, "hotThreshold": hot, "alert": "not hot"}
        if not stored["previousScore"] < hot <= stored["score"]:
            return result if stored["score"] < hot else {**result, "alert": "already hot"}
        in_cooldown = policy_step(
            ctx,
            "check-alert-cooldown",
            SCORING,
            _in_cooldown,
            str(event.tenant_id),
            str(event.contact_id),
            tenant["alert_cooldown_hours"],
        )
        if in_cooldown:
            return {**result, "alert": "cooldown"}
        alert_event_id = step_emit(
            ctx,
            "emit-hot-lead-alert",
            AlertHotLeadFire,
            {
                "tenant_id": event.tenant_id,
                "contact_id": event.contact_id,
                "score": stored["score"],
                "threshold": hot,
                "fired_at": timezone.now(),
            },
            category=SCORING,
        )
        return {**result, "alert": "fired", "alertEventId": alert_event_id}


def _compute_and_store(tenant_id: str, contact_id: str, reason: str, source_event_id: str) -> dict[str, Any]:
    stored = intent_score_recompute(
        tenant=tenant_for_step(tenant_id), contact_id=contact_id, reason=reason, source_event_id=source_event_id
    )
    return {
        "scoreId": stored.score.pk,
        "score": stored.score.score,
        "previousScore": stored.previous_score,
        "band": stored.score.band,
        "breakdown": stored.score.breakdown,
    }


def _in_cooldown(tenant_id: str, contact_id: str, cooldown_hours: int) -> bool:
    return hot_lead_alert_recent(
        tenant=tenant_for_step(tenant_id), contact_id=contact_id, cooldown_hours=cooldown_hours, now=timezone.now()
    )


def _decay_options() -> dict[str, Any]:
    # The scoring policy's retries; one decay at a time (a cron event carries no tenant to key concurrency on).
    return {"retries": policy_for(SCORING).retries, "concurrency": [inngest.Concurrency(limit=1)]}


@inngest_client.create_function(
    fn_id=DECAY_FN_ID,
    name=DECAY_FN_ID,
    trigger=inngest.TriggerCron(cron="0 2 * * *"),
    on_failure=with_failure_recorder(None),
    **_decay_options(),
)
def intent_score_decay(ctx: inngest.ContextSync) -> dict[str, Any]:
    """Daily at 02:00 UTC: idle scores lose 10% per week after 30 idle days, in batches (one step each)."""
    with run_log_context(ctx, function=DECAY_FN_ID, tenant=None):
        started = ctx.step.run("start", lambda: timezone.now().isoformat())
        now = datetime.fromisoformat(started)
        batch_size = int(settings.JOBS_DECAY_BATCH_SIZE)
        cursor: str | None = None
        examined = decayed = batches = 0
        while batches < MAX_DECAY_BATCHES:
            batch = policy_step(ctx, f"decay-batch-{batches}", SCORING, _decay_batch, cursor, batch_size, started)
            batches += 1
            examined += batch["examined"]
            decayed += batch["decayed"]
            cursor = batch["lastContactId"]
            if batch["examined"] < batch_size:
                break
        return {"examined": examined, "decayed": decayed, "batches": batches, "at": now.isoformat()}


def _decay_batch(cursor: str | None, batch_size: int, started: str) -> dict[str, Any]:
    batch = intent_scores_decay_batch(
        after_contact_id=cursor, batch_size=batch_size, now=datetime.fromisoformat(started)
    )
    return {"examined": batch.examined, "decayed": batch.decayed, "lastContactId": batch.last_contact_id}
