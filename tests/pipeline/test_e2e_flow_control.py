"""The pipeline's flow control end to end: the real serve endpoint over HTTP, run by the local engine, with the
local OpenAI-compatible server, on real PostgreSQL. Nothing is timed: the AI calls are held in the fake provider,
or the dispatcher is started only once every event has been taken in, and the tests count what happened."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from jobs.emit import emit
from jobs.events import AlertHotLeadFire, NurtureSequenceGenerate
from jobs.policy import FunctionCategory, policy_for
from tenants.models import EngagementEvent, HotLeadAlert, IntentScore, NurtureSequence
from tenants.services import contact_assign_category, engagement_record, intent_score_recompute
from tests.pipeline.engine_runs import event_data, finished, runs_of
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.urls("tests.pipeline.urls"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive"),
]


GENERATE = "nurture-sequence-generate"


def generation_of(assignment_id: int):
    (run,) = [run for run in runs_of(GENERATE) if event_data(run)["assignmentId"] == assignment_id]
    return run


def test_a_newer_assignment_during_a_generation_leaves_exactly_one_current_sequence(
    engine, tenant, make_contact, openai_server, settings
):
    settings.OPENAI_TIMEOUT = 600  # a held call must not time out and retry however slow the machine is
    contact = make_contact(tenant=tenant, first_name="Imogen")
    openai_server.hold()
    older = contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller", source="api")
    openai_server.wait_for_in_flight({tenant.name: 1})  # the older generation is inside its AI call

    newer = contact_assign_category(tenant=tenant, contact_id=contact.id, category="landlord", source="api")

    # The newer assignment's event cancels the older generation (cancel-on), while its AI call is still held.
    wait_for(lambda: generation_of(older.pk).status == "cancelled", message="the older generation cancelled")
    openai_server.wait_for_in_flight({tenant.name: 2})  # the newer generation's own call is held too
    openai_server.release()
    wait_for(lambda: generation_of(newer.pk).status == "completed", message="the newer generation")

    sequences = list(NurtureSequence.objects.filter(contact=contact).values_list("category", "status"))
    assert sequences == [("landlord", "draft")]  # the older call's answer was never stored
    assert generation_of(older.pk).status == "cancelled"
    assert len(openai_server.requests) == 2


def test_one_assignment_never_yields_two_sequences(engine, tenant, make_contact, openai_server):
    contact = make_contact(tenant=tenant, category="buyer")
    payload = {
        "tenant_id": tenant.id,
        "contact_id": contact.id,
        "category": "buyer",
        "brand_voice": tenant.brand_voice,
        "assignment_id": 9001,
        "source": "api",
        "triggered_at": timezone.now(),
    }

    # The same assignment asked twice under two event ids (a routing run replayed, say): both are taken in.
    first, second = emit(NurtureSequenceGenerate, payload), emit(NurtureSequenceGenerate, payload)
    assert first.event_id != second.event_id

    wait_for(lambda: len(finished(GENERATE)) >= 1, message="the generation")
    assert [run.status for run in runs_of(GENERATE)] == ["completed"]  # the second never became a run
    assert NurtureSequence.objects.filter(contact=contact).count() == 1
    assert len(openai_server.requests) == 1


def test_an_agents_assignment_runs_ahead_of_an_import_inside_the_agencys_concurrency(
    idle_engine, tenant, make_contact, openai_server, settings
):
    settings.OPENAI_TIMEOUT = 600
    limit = policy_for(FunctionCategory.AI).tenant_concurrency
    imported = [make_contact(tenant=tenant, category="landlord", first_name=f"Import{n}") for n in range(2 * limit)]
    agents = make_contact(tenant=tenant, category="landlord", first_name="Agentpick")

    def generate(contact, assignment_id: int, source: str) -> None:
        emit(
            NurtureSequenceGenerate,
            {
                "tenant_id": tenant.id,
                "contact_id": contact.id,
                "category": "landlord",
                "brand_voice": tenant.brand_voice,
                "assignment_id": assignment_id,
                "source": source,
                "triggered_at": timezone.now(),
            },
        )

    # The whole import is queued first, the agent's assignment last; then the engine starts.
    for number, contact in enumerate(imported, start=1):
        generate(contact, number, "csv-import")
    generate(agents, len(imported) + 1, "api")
    openai_server.hold()
    idle_engine.start()

    # The agency's first `limit` generations are in their AI calls: the agent's is one of them, although every
    # import was queued before it; no more than the agency's limit run at once.
    openai_server.wait_for_in_flight({tenant.name: limit})
    started = [str(request["messages"]) for request in openai_server.requests]
    assert len(started) == limit
    assert any('first name "Agentpick"' in prompt for prompt in started), "the agent's generation queued behind"
    openai_server.release()
    wait_for(lambda: NurtureSequence.objects.filter(tenant=tenant).count() == len(imported) + 1, timeout=120)
    assert openai_server.max_in_flight_by_agency[tenant.name] == limit


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


def test_a_flood_of_hot_lead_alerts_for_one_contact_starts_one_run_even_without_a_cooldown(
    engine, tenant, make_contact, agent
):
    tenant.alert_cooldown_hours = 0  # the agency wants every crossing: only the backstop stands in the way
    tenant.save()
    flooded = make_contact(tenant=tenant, category="vendor", assigned_agent=agent)
    other = make_contact(tenant=tenant, category="vendor", assigned_agent=agent)

    def fire(contact) -> None:
        emit(
            AlertHotLeadFire,
            {
                "tenant_id": tenant.id,
                "contact_id": contact.id,
                "score": 90,
                "threshold": 80,
                "fired_at": timezone.now(),
            },
        )

    for _ in range(3):
        fire(flooded)
    fire(other)

    wait_for(lambda: HotLeadAlert.objects.filter(emailed_at__isnull=False).count() == 2, message="two alert emails")
    assert sorted(str(event_data(run)["contactId"]) for run in runs_of("alert-hot-lead-fire")) == sorted(
        [str(flooded.id), str(other.id)]
    )
    assert HotLeadAlert.objects.filter(contact=flooded).count() == 1
    assert len(mail.outbox) == 2
