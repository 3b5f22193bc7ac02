"""The pipeline's flow control end to end: the real serve endpoint over HTTP, run by the local engine, with the
local OpenAI-compatible server, on real PostgreSQL. Nothing is timed: the AI calls are held in the fake provider,
or the dispatcher is started only once every event has been taken in, and the tests count what happened."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from tenants.models import EngagementEvent, HotLeadAlert, IntentScore
from tenants.services import engagement_record, intent_score_recompute
from tests.pipeline.engine_runs import event_data, finished, runs_of, wait_for

pytestmark = [
    pytest.mark.urls("tests.pipeline.urls"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive"),
]


def test_a_burst_of_engagement_is_scored_once_on_every_row(idle_engine, tenant, make_contact, agent):
    bursty = make_contact(tenant=tenant, category="vendor", assigned_agent=agent)
    quiet = make_contact(tenant=tenant, category="vendor")
    now = timezone.now()
    burst = [("email.open", ""), ("email.click", "https://agency.example/valuation"), ("email.reply", "")]
    burst.append(("valuation.booked", ""))

    recorded = [
        engagement_record(tenant=tenant, contact_id=bursty.id, kind=kind, url=url, occurred_at=now)
        for kind, url in burst
    ]
    engagement_record(tenant=tenant, contact_id=quiet.id, kind="email.open", occurred_at=now)
    idle_engine.start()

    wait_for(lambda: len(finished("lead-intent-score")) == 2, message="one scoring run per contact")
    runs = {event_data(run)["contactId"]: run for run in runs_of("lead-intent-score")}
    assert set(runs) == {str(bursty.id), str(quiet.id)}  # one run each: the burst of four made one
    assert all(run.status == "completed" for run in runs.values())
    # The debounced run carries the burst's last event, and the score counts every stored row.
    assert event_data(runs[str(bursty.id)])["engagementEventId"] == str(recorded[-1].event.id)
    assert EngagementEvent.objects.filter(contact=bursty).count() == len(burst)
    (stored,) = IntentScore.objects.filter(contact=bursty)
    assert stored.score == intent_score_recompute(tenant=tenant, contact_id=bursty.id, reason="recalculate").score.score
    wait_for(lambda: HotLeadAlert.objects.filter(emailed_at__isnull=False).exists(), message="the alert email")
    assert [message.to for message in mail.outbox] == [[agent.email]]
