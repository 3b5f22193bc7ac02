"""Engine state transitions driven directly (no HTTP): what the SDK's answers do to runs, events and the queue."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.engine.models import App, Event, Function, QueueItem, Run, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services.answers import CallResponse, call_response_apply
from jobs.engine.services.claims import queue_claim
from jobs.engine.services.intake import system_events_store

pytestmark = pytest.mark.django_db(transaction=True)


def _function(slug: str, event_name: str, **fields) -> Function:
    app, _ = App.objects.get_or_create(name="svc", defaults={"url": "http://svc/api/inngest"})
    function = Function.objects.create(app=app, slug=slug, step_url=f"http://svc/api/inngest?fnId={slug}", **fields)
    Trigger.objects.create(function=function, event_name=event_name)
    return function


def _answer(response: CallResponse) -> str:
    (item,) = queue_claim(owner="test", capacity=1, lease_seconds=30)
    return call_response_apply(item_id=item.id, owner="test", response=response, generation=item.generation).result


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


def _queue(function: Function, key: str, count: int, *, leased: bool = False) -> list[QueueItem]:
    now = timezone.now()
    items = []
    for _ in range(count):
        run = Run.objects.create(run_id=f"R{Run.objects.count()}-{key}", function=function, created_at=now)
        items.append(
            QueueItem.objects.create(
                run=run,
                function=function,
                max_attempts=1,
                queue_key=key,
                key1=key,
                limit1=1 if key.startswith("busy") else 10,
                available_at=now,
                order_at=now,
                lease_owner="elsewhere" if leased else None,
                lease_expires_at=now + timezone.timedelta(minutes=5) if leased else None,
            )
        )
    return items


def test_a_claim_takes_one_item_per_key_per_round_and_keeps_fifo_inside_a_key():
    function = _function("svc-rr", "svc/rr")
    a_items, b_items, c_items = _queue(function, "a", 3), _queue(function, "b", 1), _queue(function, "c", 2)

    claimed = [item.id for item in queue_claim(owner="test", capacity=5, lease_seconds=30)]

    a, b, c = [i.id for i in a_items], [i.id for i in b_items], [i.id for i in c_items]
    assert claimed == [a[0], b[0], c[0], a[1], c[1]]


def test_keys_waiting_for_a_concurrency_slot_cannot_keep_another_key_from_its_turn():
    function = _function("svc-busy", "svc/busy")
    for index in range(20):  # 20 keys at their limit of 1, each with more work waiting
        _queue(function, f"busy-{index}", 1, leased=True)
        _queue(function, f"busy-{index}", 1)
    (patient,) = _queue(function, "patient", 1)
    from jobs.engine.models import KeyQueue

    KeyQueue.objects.create(key="patient", last_served_at=timezone.now())  # served last: the back of the line

    claims = 0
    while not QueueItem.objects.filter(pk=patient.pk, lease_owner="test").exists():
        claims += 1
        assert claims <= 11, "the patient key never got a turn"
        queue_claim(owner="test", capacity=1, lease_seconds=30)
    assert QueueItem.objects.filter(lease_owner="test").count() == 1  # no busy key went over its limit


def test_the_spare_slot_goes_only_to_a_key_queue_with_nothing_in_flight():
    function = _function("svc-spare", "svc/spare")
    _queue(function, "flood", 2, leased=True)
    _queue(function, "flood", 5)

    assert queue_claim(owner="test", capacity=0, lease_seconds=30, spare=1) == []  # the flood already has work out

    (quiet,) = _queue(function, "quiet", 1)
    (claimed,) = queue_claim(owner="test", capacity=0, lease_seconds=30, spare=1)
    assert claimed.id == quiet.id and claimed.spare is True


def test_an_env_scoped_key_is_one_limit_shared_by_every_function_that_uses_it():
    shared = [{"scope": "env", "key": '"openai"', "limit": 1}]
    first = _function("svc-env-a", "svc/env", concurrency=shared)
    second = _function("svc-env-b", "svc/env", concurrency=shared)
    per_function = _function("svc-fn-c", "svc/env", concurrency=[{"scope": "fn", "key": '"openai"', "limit": 1}])

    system_events_store([IncomingEvent("svc/env", {}, 1, "")], now=timezone.now())  # one run of each function

    claimed = queue_claim(owner="test", capacity=3, lease_seconds=30)
    functions = set(QueueItem.objects.filter(id__in=[c.id for c in claimed]).values_list("function__slug", flat=True))
    assert len(claimed) == 2  # one of the two env-scoped functions waits; the fn-scoped one has its own limit
    assert per_function.slug in functions
    assert len(functions & {first.slug, second.slug}) == 1


def test_a_key_queue_at_its_limit_is_not_visited_so_it_keeps_its_turn_for_when_a_slot_frees():
    from jobs.engine.models import KeyQueue

    function = _function("svc-full", "svc/full")
    _queue(function, "busy-0", 1, leased=True)  # at its limit of 1, with three more waiting
    waiting = _queue(function, "busy-0", 3)
    (other,) = _queue(function, "other", 1)
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    KeyQueue.objects.create(key="busy-0", last_served_at=long_ago)  # first in line
    KeyQueue.objects.create(key="other", last_served_at=timezone.now())

    (claimed,) = queue_claim(owner="test", capacity=1, lease_seconds=30)

    assert claimed.id == other.id
    assert KeyQueue.objects.get(key="busy-0").last_served_at == long_ago  # still first in line
    QueueItem.objects.filter(lease_owner="elsewhere").delete()  # its slot frees
    (next_claimed,) = queue_claim(owner="test", capacity=1, lease_seconds=30)
    assert next_claimed.id == waiting[0].id


def test_a_claim_asks_the_throttle_only_about_first_requests_of_throttled_functions():
    """The throttle's own statement runs only when the claim chose a throttled function's first request: under a
    flood it was one more round trip in every claim, about a fifth of each claim's time (bench/fairness.py)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.engine.queries import statement

    _function("svc-plain-start", "svc/plain-start")
    throttled = _function(
        "svc-throttled-start", "svc/throttled-start", config={"throttle": {"limit": 1, "period": "60s", "burst": 0}}
    )
    throttle_sql = statement("throttle_starts")
    system_events_store([IncomingEvent("svc/plain-start", {}, 1, "")], now=timezone.now())

    with CaptureQueriesContext(connection) as plain_claim:
        assert len(queue_claim(owner="test", capacity=5, lease_seconds=30)) == 1
    system_events_store([IncomingEvent("svc/throttled-start", {}, 1, "")] * 2, now=timezone.now())
    with CaptureQueriesContext(connection) as throttled_claim:
        claimed = queue_claim(owner="test", capacity=5, lease_seconds=30)

    assert not [q for q in plain_claim.captured_queries if q["sql"].startswith(throttle_sql[:60])]
    assert [q for q in throttled_claim.captured_queries if q["sql"].startswith(throttle_sql[:60])]
    assert [Run.objects.get(pk=c.run_pk).function_id for c in claimed] == [throttled.pk]  # the second waits


def test_a_claim_is_three_statements_its_lock_its_candidates_with_the_counts_in_flight_and_its_take():
    """The requests in flight are counted inside claim_candidates, after the lock: a statement of their own was one
    more round trip in every claim, and every claim under a flood waits on its round trips (bench/fairness.py)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    function = _function("svc-three", "svc/three")
    _queue(function, "busy-held", 1, leased=True)  # in flight elsewhere, at its limit of 1: counted
    _queue(function, "busy-held", 1)  # so this one waits
    (ready,) = _queue(function, "ready", 1)

    with CaptureQueriesContext(connection) as claim:
        claimed = queue_claim(owner="test", capacity=5, lease_seconds=30)

    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    sent = [q["sql"] for q in claim.captured_queries if not q["sql"].upper().startswith(control)]
    assert len(sent) == 3, sent
    assert [c.id for c in claimed] == [ready.id]
