"""Event batching through the real engine: per key, a run when maxSize events arrived or at the timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.delayed import delayed_fire_due
from jobs.engine.models import PendingBatch, Run, Trigger
from jobs.engine.services.cron import cron_fire_due

from .delayed_functions import DELAYED_SERVE_PATH

pytestmark = [pytest.mark.urls("tests.engine.delayed_urls"), pytest.mark.django_db(transaction=True)]


def test_a_full_batch_starts_at_once_and_a_partial_one_at_its_timeout(engine, recorder):
    dispatcher = engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"], start=False)
    for seq, tenant in enumerate(["a", "b", "a", "b", "a", "a"], start=1):
        engine.send("test/batched", {"tenantId": tenant, "seq": seq})

    # Key a filled its batch of 3 (seq 1, 3, 5) at intake; seq 6 opened a's next batch; b holds 2 of 3.
    (full,) = Run.objects.filter(function__slug__endswith="-batched")
    assert [event["data"]["seq"] for event in full.events] == [1, 3, 5]
    assert full.event.data["seq"] == 1
    assert sorted(len(batch.event_ids) for batch in PendingBatch.objects.all()) == [1, 2]

    dispatcher.start()
    runs = engine.wait_for_runs("-batched", 3)

    assert {run.status for run in runs} == {Run.Status.COMPLETED}
    assert sorted(e["seqs"] for e in recorder.executions) == [[1, 3, 5], [2, 4], [6]]
    assert not PendingBatch.objects.exists()


def test_an_event_the_batch_if_does_not_match_starts_a_run_of_its_own_at_once(engine):
    engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"], start=False)
    engine.send("test/batched.bulk.only", {"source": "bulk", "seq": 1})
    engine.send("test/batched.bulk.only", {"source": "api", "seq": 2})
    engine.send("test/batched.bulk.only", {"source": "bulk", "seq": 3})

    (alone,) = Run.objects.filter(function__slug__endswith="-batched-bulk-only")
    assert [event["data"]["seq"] for event in alone.events] == [2]
    (pending,) = PendingBatch.objects.all()
    assert len(pending.event_ids) == 2


def test_one_tick_starts_every_due_batch_however_many(engine):
    engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"], start=False)
    engine.send_many([{"name": "test/batched", "data": {"tenantId": f"t-{n}", "seq": n}} for n in range(250)])
    assert PendingBatch.objects.count() == 250

    fired = delayed_fire_due(now=timezone.now() + timedelta(days=1))  # 100 per transaction

    assert fired == 250
    assert Run.objects.filter(function__slug__endswith="-batched").count() == 250
    assert not PendingBatch.objects.exists()


def test_a_cron_run_of_a_batching_function_starts_at_once_unbatched(engine):
    # Inngest schedules a cron's run through the executor, not the runner that batches (executor/service.go).
    engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"], start=False)
    trigger = Trigger.objects.get(function__slug__endswith="-cron-batched")

    cron_fire_due(now=trigger.next_fire_at)

    (run,) = Run.objects.filter(function=trigger.function)
    assert [event["name"] for event in run.events] == ["inngest/scheduled.timer"]
    assert not PendingBatch.objects.exists()
