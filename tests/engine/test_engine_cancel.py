"""`DELETE /v1/runs/<run_id>`: the engine cancels a run like Inngest's REST API, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from jobs.engine.models import Event, QueueItem, Run

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def _run_of(function_suffix: str, wait_until) -> Run:
    wait_until(lambda: Run.objects.filter(function__slug__endswith=function_suffix).exists(), message="run started")
    return Run.objects.get(function__slug__endswith=function_suffix)


def test_a_sleeping_run_is_cancelled_at_once_and_never_runs_its_next_step(engine, recorder, wait_until):
    engine.start_dispatcher()
    engine.send("test/sleeper", {"seconds": 1500})  # 1.5 s at the test delay scale
    run = _run_of("-sleeper", wait_until)
    wait_until(
        lambda: (
            QueueItem.objects.filter(run=run, lease_owner=None, step_id="step").exists()
            and recorder.count(run.run_id, "before-sleep") == 1
        ),
        message="the run is asleep",
    )

    response = httpx.delete(f"{engine.url}/v1/runs/{run.run_id}", timeout=10)

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"run_id": run.run_id, "status": "cancelled"}}
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED and run.ended_at is not None
    assert not QueueItem.objects.filter(run=run).exists()
    cancelled = Event.objects.get(name="inngest/function.cancelled")
    assert cancelled.external_id == run.run_id
    assert cancelled.data["run_id"] == run.run_id
    assert cancelled.data["function_id"] == run.function.slug
    assert cancelled.data["event"]["name"] == "test/sleeper"
    assert cancelled.data["events"][0]["name"] == "test/sleeper"
    assert cancelled.data["error"]["name"] == "FunctionCancelled"
    finished = Event.objects.get(name="inngest/function.finished")
    assert finished.data["run_id"] == run.run_id and finished.data["_inngest"]["status"] == "cancelled"
    time.sleep(2.0)  # past the moment the sleep would have ended
    assert recorder.steps_of(run.run_id) == ["before-sleep"]
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED


def test_a_step_already_executing_finishes_but_nothing_follows_it(engine, recorder, wait_until):
    engine.start_dispatcher()
    engine.send("test/three.step", {"holdStepOne": "cancel-while-executing"})
    run = _run_of("-three-step", wait_until)
    wait_until(lambda: recorder.count(run.run_id, "one") == 1, message="step one executing")

    response = httpx.delete(f"{engine.url}/v1/runs/{run.run_id}", timeout=10)

    assert response.status_code == 200, response.text
    recorder.open("cancel-while-executing")  # step one finishes now, after the cancel: never by the clock
    wait_until(lambda: any(r.run_id == run.run_id for r in engine.records), message="step one's answer handled")
    assert recorder.steps_of(run.run_id) == ["one"]
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert not QueueItem.objects.filter(run=run).exists()


def test_a_finished_run_is_refused_with_409_and_stays_as_it_was(engine, recorder):
    engine.start_dispatcher()
    engine.send("test/three.step", {"n": 1})
    (run,) = engine.wait_for_runs("-three-step", 1)

    response = httpx.delete(f"{engine.url}/v1/runs/{run.run_id}", timeout=10)

    assert response.status_code == 409
    assert "already completed" in response.json()["error"]
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert not Event.objects.filter(name="inngest/function.cancelled").exists()


def test_an_unknown_run_is_404(live_server):
    response = httpx.delete(f"{live_server.url}/v1/runs/01JUNKNOWNRUNID0000000000", timeout=10)

    assert response.status_code == 404
    assert "no run with id" in response.json()["error"]


def test_only_delete_is_accepted(live_server):
    response = httpx.post(f"{live_server.url}/v1/runs/01JUNKNOWNRUNID0000000000", timeout=10)

    assert response.status_code == 405


def test_outside_dev_mode_the_signing_key_is_required(live_server, settings):
    settings.INNGEST_DEV = False
    settings.INNGEST_SIGNING_KEY = "signkey-prod-0123456789abcdef"
    url = f"{live_server.url}/v1/runs/01JUNKNOWNRUNID0000000000"

    without = httpx.delete(url, timeout=10)
    wrong = httpx.delete(url, headers={"Authorization": "Bearer signkey-prod-ffff"}, timeout=10)
    right = httpx.delete(url, headers={"Authorization": f"Bearer {settings.INNGEST_SIGNING_KEY}"}, timeout=10)

    assert (without.status_code, wrong.status_code) == (401, 401)
    assert right.status_code == 404  # authorised, and then: no such run
