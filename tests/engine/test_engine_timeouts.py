"""Start and finish timeouts through the real engine: the run is cancelled, with the timeout as its reason.

The sweep is called with a `now` past the timeout (an injected clock); the dispatcher's own sweep, at a delay scale
of 1, would only act after a real minute, which no test reaches.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.models import Event, QueueItem, Run

from .gate_functions import GATES_PATH

pytestmark = [pytest.mark.urls("tests.engine.urls_gates"), pytest.mark.django_db(transaction=True)]


def timeouts_enforce(**kwargs) -> int:
    from jobs.engine.timeouts import timeouts_enforce  # here, so the file ran against the engine before it

    return timeouts_enforce(**kwargs)


@pytest.fixture
def real_delays(engine_settings):
    engine_settings.ENGINE_DELAY_SCALE = 1.0  # the 60 s timeouts stay 60 s: only the injected clock reaches them
    return engine_settings


def test_a_run_not_started_within_its_start_timeout_is_cancelled_and_a_started_one_is_not(
    engine, recorder, wait_until, real_delays
):
    engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"])
    engine.send("gates/start.timeout", {"seq": 1, "hold": "first"})
    wait_until(lambda: recorder.executions, message="the first run's step to be executing")
    engine.send("gates/start.timeout", {"seq": 2})  # waits behind the first (limit 1)
    first, second = Run.objects.filter(function__slug__endswith="-start-timeout").order_by("id")

    assert timeouts_enforce(now=timezone.now() + timedelta(seconds=30)) == 0  # within the timeout
    assert timeouts_enforce(now=timezone.now() + timedelta(seconds=61)) == 1

    second.refresh_from_db()
    assert second.status == Run.Status.CANCELLED
    assert second.error["reason"] == "start timeout: not started within 60s"
    assert not QueueItem.objects.filter(run=second).exists()
    assert Event.objects.filter(name="inngest/function.cancelled", external_id=second.run_id).exists()
    recorder.open("first")
    engine.wait_for_runs("-start-timeout", 1)
    first.refresh_from_db()
    assert first.status == Run.Status.COMPLETED  # started in time: the start timeout never applies to it
    assert [e["seq"] for e in recorder.executions] == [1]


def test_a_run_not_finished_within_its_finish_timeout_is_cancelled_and_its_next_step_never_runs(
    engine, recorder, wait_until, real_delays
):
    engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"])
    engine.send("gates/finish.timeout", {"hold": "slow"})
    wait_until(lambda: recorder.executions, message="the run's first step to be executing")
    run = Run.objects.get(function__slug__endswith="-finish-timeout")
    run.refresh_from_db()

    assert timeouts_enforce(now=run.started_at + timedelta(seconds=59)) == 0
    assert timeouts_enforce(now=run.started_at + timedelta(seconds=61)) == 1

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert run.error["reason"] == "finish timeout: not finished within 60s of its start"
    recorder.open("slow")
    wait_until(lambda: any(r.run_id == run.run_id for r in engine.records), message="the step's answer")
    # Its answer found the run cancelled: nothing follows it.
    assert [r.outcome for r in engine.records if r.run_id == run.run_id] == ["lease-lost"]
    assert recorder.count(run.run_id, "after") == 0
    assert not QueueItem.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
