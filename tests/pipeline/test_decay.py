"""The daily decay cron (02:00 UTC): idle scores are re-scored with decay, in batches, each with its tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.functions.scoring import intent_score_decay
from tenants.models import EngagementEvent, IntentScore

pytestmark = pytest.mark.django_db(transaction=True)

FN = "intent-score-decay"


def scored_contact(tenant, make_contact, *, idle_days, score, category="seller"):
    """A contact whose last engagement (reply 25 + booking click 30 + click 15 = 70 raw) was `idle_days` ago."""
    contact = make_contact(tenant=tenant, category=category, intent_score=score)
    last = timezone.now() - timedelta(days=idle_days)
    for minutes, kind, url in [
        (2, "email.reply", ""),
        (1, "email.click", "https://x.example/book"),
        (0, "email.click", "https://x.example/a"),
    ]:
        EngagementEvent.objects.create(
            tenant=tenant,
            contact=contact,
            kind=kind,
            url=url,
            email_position=1,
            occurred_at=last - timedelta(minutes=minutes),
        )
    return contact


def test_the_cron_is_declared_for_two_in_the_morning_utc():
    assert [trigger.cron for trigger in intent_score_decay._triggers] == ["0 2 * * *"]


def test_idle_scores_decay_and_recent_ones_are_left_alone(pipeline, tenant, make_contact):
    idle = scored_contact(tenant, make_contact, idle_days=45, score=91)
    fresh = scored_contact(tenant, make_contact, idle_days=3, score=91)

    run = pipeline.fire_cron(FN)

    assert run.status == "completed"
    idle.refresh_from_db()
    fresh.refresh_from_db()
    assert idle.intent_score == 74  # 70 x 1.3 x 0.9^2 (two full weeks past 30 days) = 73.71 -> 74
    assert fresh.intent_score == 91
    row = IntentScore.objects.get(contact=idle)
    assert (row.reason, row.previous_score, row.breakdown["decay_factor"]) == ("decay", 91, 0.81)


def test_decay_runs_in_batches_across_tenants_each_row_with_its_own_tenant(
    pipeline, tenant, other_tenant, make_contact, settings
):
    settings.JOBS_DECAY_BATCH_SIZE = 2
    contacts = [scored_contact(tenant, make_contact, idle_days=60, score=91) for _ in range(3)]
    contacts += [scored_contact(other_tenant, make_contact, idle_days=60, score=91) for _ in range(2)]

    run = pipeline.fire_cron(FN)

    assert run.output["examined"] == 5 and run.output["decayed"] == 5
    assert [step for step in run.steps if step.startswith("decay-batch")] == [
        "decay-batch-0",
        "decay-batch-1",
        "decay-batch-2",
    ]
    for contact in contacts:
        row = IntentScore.objects.get(contact=contact)
        assert row.tenant_id == contact.tenant_id
        assert row.score == 60  # 70 x 1.3 x 0.9^4 = 59.70 -> 60


def test_running_twice_the_same_day_changes_nothing_more(pipeline, tenant, make_contact):
    contact = scored_contact(tenant, make_contact, idle_days=45, score=91)

    pipeline.fire_cron(FN)
    second = pipeline.fire_cron(FN)

    assert second.output["decayed"] == 0
    contact.refresh_from_db()
    assert contact.intent_score == 74
    assert IntentScore.objects.filter(contact=contact).count() == 1
