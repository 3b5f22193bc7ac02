"""Engine state transitions driven directly (no HTTP): what the SDK's answers do to runs, events and the queue."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.engine.models import App, Event, Function, QueueItem, Run, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services import CallResponse, call_response_apply, queue_claim, system_events_store

pytestmark = pytest.mark.django_db(transaction=True)


def _function(slug: str, event_name: str, **fields) -> Function:
    app, _ = App.objects.get_or_create(name="svc", defaults={"url": "http://svc/api/inngest"})
    function = Function.objects.create(app=app, slug=slug, step_url=f"http://svc/api/inngest?fnId={slug}", **fields)
    Trigger.objects.create(function=function, event_name=event_name)
    return function


def _answer(response: CallResponse) -> str:
    (item,) = queue_claim(owner="test", capacity=1, lease_seconds=30)
    return call_response_apply(item_id=item.id, owner="test", response=response).result


def test_a_run_started_by_a_finished_event_announces_nothing_so_a_listener_cannot_loop():
    listener = _function("svc-listener", "inngest/function.finished")
    finished = IncomingEvent("inngest/function.finished", {"function_id": "svc-other", "run_id": "R1"}, 1, "")
    system_events_store([finished], now=timezone.now())

    assert _answer(CallResponse(status=200, from_sdk=True, body="seen")) == "completed"

    assert Run.objects.get(function=listener).status == Run.Status.COMPLETED
    assert Event.objects.filter(name="inngest/function.finished").count() == 1  # only the one we stored
    assert not QueueItem.objects.exists()


def test_a_4xx_from_the_sdk_fails_the_run_without_retrying_but_a_non_sdk_5xx_is_retried():
    function = _function("svc-plain", "svc/plain", retries=3)
    system_events_store([IncomingEvent("svc/plain", {}, 1, "")], now=timezone.now())

    assert _answer(CallResponse(status=502, from_sdk=False, body=None)) == "retry"
    item = QueueItem.objects.get()
    assert item.attempt == 1 and item.available_at > timezone.now()  # backed off, not hot-looped
    QueueItem.objects.update(available_at=timezone.now())

    assert _answer(CallResponse(status=404, from_sdk=True, body={"message": "function not found"})) == "failed"
    run = Run.objects.get(function=function)
    assert run.status == Run.Status.FAILED
    assert run.error["message"] == "function not found"


def test_a_206_without_opcodes_is_a_failed_attempt_not_a_crash():
    _function("svc-odd", "svc/odd", retries=1)
    system_events_store([IncomingEvent("svc/odd", {}, 1, "")], now=timezone.now())

    assert _answer(CallResponse(status=206, from_sdk=True, body={"unexpected": True})) == "retry"
    QueueItem.objects.update(available_at=timezone.now())
    assert _answer(CallResponse(status=206, from_sdk=True, body=[])) == "failed"
    assert "206 without opcodes" in Run.objects.get().error["message"]
