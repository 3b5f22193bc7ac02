"""Rerun (`POST /api/v2/runs/<id>/rerun`) through the real engine and SDK: one new run of that function only,
passing idempotency, rate limit, debounce and batching, still obeying a singleton."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from jobs.engine.delayed import delayed_fire_due
from jobs.engine.gate_models import SkippedRun
from jobs.engine.models import Event, PendingBatch, PendingDebounce, Run

from .delayed_functions import DELAYED_SERVE_PATH
from .gate_functions import GATES_PATH

pytestmark = pytest.mark.django_db(transaction=True)
gates_urls = pytest.mark.urls("tests.engine.urls_gates")
delayed_urls = pytest.mark.urls("tests.engine.delayed_urls")


def rerun(engine, run_id: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{engine.url}/api/v2/runs/{run_id}/rerun", timeout=30, **kwargs)


def new_run_id(engine, run_id: str) -> str:
    response = rerun(engine, run_id)
    assert response.status_code == 200, response.text
    return response.json()["data"]["runId"]


@gates_urls
@pytest.mark.parametrize(
    ("event", "suffix"), [("gates/idempotent", "-idempotent"), ("gates/rate.limited", "-rate-limited")]
)
def test_a_rerun_passes_idempotency_and_the_rate_limit_and_stores_no_event(engine, recorder, event, suffix):
    engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"])
    engine.send(event, {"key": "a1"})
    (original,) = engine.wait_for_runs(suffix, 1)
    engine.send(event, {"key": "a1"})  # the same key again: the function's own flow control skips it
    events_before = Event.objects.exclude(name__startswith="inngest/").count()
    assert Counter(SkippedRun.objects.values_list("reason", flat=True)).total() == 1

    first = new_run_id(engine, original.run_id)
    second = new_run_id(engine, first)  # a rerun of a rerun: another run, as on Inngest (its key is its run id)

    runs = engine.wait_for_runs(suffix, 3)
    assert {run.run_id for run in runs} == {original.run_id, first, second}
    assert {run.status for run in runs} == {Run.Status.COMPLETED}
    assert {run.event_id for run in runs} == {original.event_id}  # the original event, not a new one
    assert Event.objects.exclude(name__startswith="inngest/").count() == events_before  # (runs send function.finished)
    assert SkippedRun.objects.count() == 1
    assert [e["key"] for e in recorder.executions] == ["a1"] * 3


@gates_urls
def test_a_rerun_obeys_a_singleton_and_says_why_it_started_nothing(engine, recorder, wait_until):
    engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"])
    engine.send("gates/single.skip", {"key": "k1"})
    (original,) = engine.wait_for_runs("-single-skip", 1)
    engine.send("gates/single.skip", {"key": "k1", "hold": "holder"})
    wait_until(lambda: len(recorder.executions) == 2, message="the holder's step to be executing")

    response = rerun(engine, original.run_id)

    assert response.status_code == 409, response.text
    assert "Singleton run in progress" in response.json()["error"]
    assert Run.objects.filter(function__slug__endswith="-single-skip").count() == 2
    assert SkippedRun.objects.filter(reason=SkippedRun.Reason.SINGLETON).count() == 1  # recorded, as any skip
    recorder.open("holder")
    engine.wait_for_runs("-single-skip", 2)
    new_run_id(engine, original.run_id)  # the key is free again
    assert len(engine.wait_for_runs("-single-skip", 3)) == 3


@gates_urls
def test_a_rerun_of_an_unknown_run_or_with_options_is_refused_and_starts_nothing(engine):
    engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"], start=False)
    engine.send("gates/idempotent", {"key": "a1"})
    (original,) = Run.objects.all()

    unknown = rerun(engine, "01J00000000000000000000000")
    with_step = rerun(engine, original.run_id, json={"fromStep": {"stepId": "work"}})

    assert unknown.status_code == 404 and "no run with id" in unknown.json()["error"]
    assert with_step.status_code == 400 and "fromStep" in with_step.json()["error"]
    assert Run.objects.count() == 1


@delayed_urls
def test_a_rerun_of_a_debounced_run_starts_at_once_with_its_event(engine, recorder):
    engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"], start=False)
    engine.send("test/debounced", {"contactId": "c-1", "seq": 1})
    delayed_fire_due(now=timezone.now() + timedelta(seconds=11))
    (original,) = Run.objects.filter(function__slug__endswith="-debounced")

    rerun_id = new_run_id(engine, original.run_id)

    assert not PendingDebounce.objects.exists()  # not held for a new burst
    rerun_run = Run.objects.get(run_id=rerun_id)
    assert rerun_run.events == original.events and rerun_run.event_id == original.event_id


@delayed_urls
def test_a_rerun_of_a_batch_run_starts_at_once_with_the_whole_batch(engine, recorder):
    engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"])
    for seq in (1, 2, 3):
        engine.send("test/batched", {"tenantId": "a", "seq": seq})
    (original,) = engine.wait_for_runs("-batched", 1)

    rerun_id = new_run_id(engine, original.run_id)

    runs = engine.wait_for_runs("-batched", 2)
    assert rerun_id in {run.run_id for run in runs}
    assert not PendingBatch.objects.exists()
    assert [e["seqs"] for e in recorder.executions] == [[1, 2, 3], [1, 2, 3]]


@pytest.mark.urls("tests.engine.urls")
def test_a_rerun_obeys_cancel_on_for_events_that_arrive_after_it_started(engine, recorder, wait_until):
    engine.start_dispatcher()
    engine.send("test/cancellable", {"orderId": "o1", "gate": "o1"})
    wait_until(lambda: len(recorder.executions) == 1, message="the original's first step held")
    original = Run.objects.get(function__slug__endswith="-cancellable")
    engine.send("test/cancellable.stop", {"orderId": "o1"})
    original.refresh_from_db()
    assert original.status == Run.Status.CANCELLED

    rerun_id = new_run_id(engine, original.run_id)  # the stop before it does not touch it

    wait_until(lambda: len(recorder.executions) == 2, message="the rerun's first step held")
    rerun_run = Run.objects.get(run_id=rerun_id)
    assert rerun_run.status == Run.Status.RUNNING
    engine.send("test/cancellable.stop", {"orderId": "o1"})
    rerun_run.refresh_from_db()
    assert rerun_run.status == Run.Status.CANCELLED
    recorder.open("o1")
    assert recorder.steps_of(rerun_id) == ["first"]
