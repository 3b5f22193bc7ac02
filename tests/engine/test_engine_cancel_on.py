"""Cancel-on (a function's `cancel` entries) through the engine: which events cancel a run, and what a cancelled
run still does (nothing)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from jobs.engine.models import Event, Function, QueueItem, Run
from tests.engine.register_body import assert_stored_with_config_error

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]

STOP = "test/cancellable.stop"


def _held_run(engine, recorder, wait_until, *, order: str) -> Run:
    engine.send("test/cancellable", {"orderId": order, "gate": order})
    wait_until(lambda: len(recorder.executions) == 1, message="the first step held")
    return Run.objects.get(function__slug__endswith="-cancellable")


def test_a_matching_event_cancels_the_run_and_no_step_request_follows(engine, recorder, wait_until):
    engine.start_dispatcher()
    run = _held_run(engine, recorder, wait_until, order="o1")

    engine.send(STOP, {"orderId": "o2"})  # another order: the `if` does not match
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING
    engine.send(STOP, {"orderId": "o1"})

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED  # cancelled by the intake itself, before it answered
    cancelled = Event.objects.get(name="inngest/function.cancelled")
    assert cancelled.data["run_id"] == run.run_id and cancelled.data["error"]["name"] == "FunctionCancelled"
    # The step in flight finishes in the app; its answer finds no lease and nothing is queued after it.
    recorder.open("o1")
    wait_until(
        lambda: any(r.run_id == run.run_id and r.outcome == "lease-lost" for r in engine.records),
        message="the held step's answer",
    )
    assert not QueueItem.objects.filter(run=run).exists()
    assert recorder.steps_of(run.run_id) == ["first"]
    assert [r.outcome for r in engine.records if r.run_id == run.run_id] == ["lease-lost"]


def test_an_event_whose_if_does_not_match_leaves_the_run_alone(engine, recorder, wait_until):
    engine.start_dispatcher()
    run = _held_run(engine, recorder, wait_until, order="o1")

    engine.send(STOP, {"orderId": "o2"})
    recorder.open("o1")

    (run,) = engine.wait_for_runs("-cancellable", 1)
    assert run.status == Run.Status.COMPLETED
    assert recorder.steps_of(run.run_id) == ["first", "second"]


def test_an_event_after_the_cancel_timeout_does_nothing(engine, recorder, wait_until):
    engine.start_dispatcher()
    run = _held_run(engine, recorder, wait_until, order="o1")
    # The run started two hours ago; its cancel entry's timeout is one hour.
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=2))

    engine.send(STOP, {"orderId": "o1"})
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING
    recorder.open("o1")

    (run,) = engine.wait_for_runs("-cancellable", 1)
    assert run.status == Run.Status.COMPLETED
    assert recorder.steps_of(run.run_id) == ["first", "second"]


def _register(live_server, cancel: object) -> httpx.Response:
    url = f"{live_server.url}/api/inngest-test"
    function = {
        "id": "cancel-app-fn",
        "name": "fn",
        "triggers": [{"event": "a/b"}],
        "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http", "url": f"{url}?fnId=x"}}},
        "cancel": cancel,
    }
    body = {"appname": "cancel-app", "url": url, "framework": "django", "sdk": "py:v0.5.19", "functions": [function]}
    return httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30)


@pytest.mark.parametrize(
    ("cancel", "message"),
    [
        ([{"event": "a/stop", "if": "event.data.id == "}], "cancel `if`"),
        ([{"event": "a/stop", "if": "event.data.id == other.data.id"}], "only `async`, `event` can be used"),
        ([{"event": "a/stop", "timeout": "2023-10-12T07:20:50Z"}], "cancel `timeout`"),
        ([{"event": f"a/stop{n}"} for n in range(6)], "at most 5 cancel entries"),
        ([{"if": "true"}], "needs an `event`"),
    ],
    ids=["syntax", "unknown-variable", "fixed-time-timeout", "too-many", "no-event"],
)
def test_a_cancel_entry_the_engine_cannot_honour_exactly_is_the_functions_config_error(live_server, cancel, message):
    response = _register(live_server, cancel)

    assert_stored_with_config_error(response, "cancel-app-fn", message)


def test_a_valid_cancel_entry_syncs_without_a_config_error(live_server):
    response = _register(live_server, [{"event": "a/stop", "if": "event.data.id == async.data.id", "timeout": "1h"}])

    assert response.status_code == 200, response.text
    assert Function.objects.get(slug="cancel-app-fn").config_error == ""


@pytest.mark.parametrize(("scale", "cancelled"), [(1.0, True), (0.001, False)], ids=["unscaled", "scaled"])
def test_a_cancel_timeout_is_scaled_by_engine_delay_scale_like_every_delay(live_server, settings, scale, cancelled):
    # A run started 10 s ago; its entry's timeout is 1 h: 1 h as written, 3.6 s at a scale of 0.001 (expired).
    from jobs.engine.protocol import IncomingEvent
    from jobs.engine.services.intake import events_ingest

    settings.ENGINE_DELAY_SCALE = scale
    assert _register(live_server, [{"event": "a/stop", "timeout": "1h"}]).status_code == 200
    events_ingest(events=[IncomingEvent(name="a/b", data={}, ts=0, external_id="")])
    Run.objects.update(created_at=timezone.now() - timedelta(seconds=10))

    events_ingest(events=[IncomingEvent(name="a/stop", data={}, ts=0, external_id="")])

    assert (Run.objects.get().status == Run.Status.CANCELLED) is cancelled
