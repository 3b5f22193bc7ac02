"""One "step finished, move the run on" path (services/progress.py `step_done`) for every way a step finishes:
a planned step's answer, a step run inline in discovery, a wait or invoke resumed by its event or its timeout.

Driven through the services (no HTTP) so each answer is under the test's control.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.engine.models import App, Function, QueueItem, Run, StepMemo, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services.answers import CallResponse, call_response_apply
from jobs.engine.services.claims import queue_claim
from jobs.engine.services.intake import system_events_store

pytestmark = pytest.mark.django_db(transaction=True)


def _run() -> Run:
    app = App.objects.create(name="svc", url="http://svc/api/inngest")
    function = Function.objects.create(app=app, slug="svc-fn", step_url="http://svc/api/inngest?fnId=svc-fn")
    Trigger.objects.create(function=function, event_name="svc/go")
    system_events_store([IncomingEvent("svc/go", {}, 1, "")], now=timezone.now())
    return Run.objects.get(function=function)


def _answer(item_id: int, ops: list[dict]) -> str:
    generation = QueueItem.objects.get(pk=item_id).generation
    response = CallResponse(status=206, from_sdk=True, body=ops)
    return call_response_apply(item_id=item_id, owner="test", response=response, generation=generation).result


def _group(mode: str) -> list[dict]:
    """A parallel group of a step to run and a wait for an event, as the SDK reports it from discovery."""
    opts = {"parallelMode": mode}
    return [
        {"op": "StepPlanned", "id": "hash-slow", "name": "slow", "displayName": "slow", "opts": opts},
        {
            "op": "WaitForEvent",
            "id": "hash-wait",
            "name": "svc/approved",
            "displayName": "approval",
            "opts": {"event": "svc/approved", "timeout": "1h", **opts},
        },
    ]


def _steps(run: Run) -> list[str]:
    return sorted(QueueItem.objects.filter(run=run).values_list("step_id", flat=True))


def _approve() -> None:
    system_events_store([IncomingEvent("svc/approved", {}, 2, "")], now=timezone.now())


def test_a_race_moves_the_run_on_when_its_wait_is_resumed_while_a_sibling_still_runs():
    """Race mode: the first member of the group to finish moves the run on, whichever kind of step it is."""
    run = _run()
    (discovery,) = queue_claim(owner="test", capacity=10, lease_seconds=30)
    assert _answer(discovery.id, _group("race")) == "planned"
    assert _steps(run) == ["hash-slow", "timeout:hash-wait"]

    _approve()  # the wait ends first; "slow" is still queued

    assert StepMemo.objects.filter(run=run, hashed_id="hash-wait").exists()
    assert _steps(run) == ["hash-slow", "step"]  # a discovery goes on beside the still-pending sibling


def test_in_wait_mode_the_last_member_to_finish_moves_the_run_on():
    run = _run()
    (discovery,) = queue_claim(owner="test", capacity=10, lease_seconds=30)
    _answer(discovery.id, _group("wait"))

    _approve()
    assert _steps(run) == ["hash-slow"]  # the wait is done, the group is not: no discovery yet

    (slow,) = queue_claim(owner="test", capacity=10, lease_seconds=30)
    assert _answer(slow.id, [{"op": "StepRun", "id": "hash-slow", "data": 1}]) == "step"
    assert _steps(run) == ["step"]
    run.refresh_from_db()
    assert run.steps_done == 2 and not run.force_step_plan


def test_a_step_run_inline_in_discovery_queues_the_next_discovery_with_the_functions_attempts():
    run = _run()
    (discovery,) = queue_claim(owner="test", capacity=10, lease_seconds=30)
    assert _answer(discovery.id, [{"op": "StepRun", "id": "hash-a", "data": 1}]) == "step"
    (item,) = QueueItem.objects.filter(run=run)
    assert (item.step_id, item.attempt, item.max_attempts) == ("step", 0, run.function.max_attempts)
    run.refresh_from_db()
    assert run.steps_done == 1
