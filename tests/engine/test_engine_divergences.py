"""Where the engine diverged from Inngest under the SDK's own suite and the TypeScript SDK; one test per divergence.

Driven through the services (no HTTP) so each answer and each lock is under the test's control.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from jobs.engine.models import App, Event, Function, QueueItem, Run, RunSpan, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services.answers import CallResponse, call_response_apply
from jobs.engine.services.call_request import call_request_build
from jobs.engine.services.claims import queue_claim
from jobs.engine.services.intake import system_events_store

pytestmark = pytest.mark.django_db(transaction=True)


def _run(slug: str = "svc-fn", retries: int = 0) -> Run:
    app, _ = App.objects.get_or_create(name="svc", defaults={"url": "http://svc/api/inngest"})
    function = Function.objects.create(
        app=app, slug=slug, step_url=f"http://svc/api/inngest?fnId={slug}", retries=retries
    )
    Trigger.objects.create(function=function, event_name="svc/go")
    system_events_store([IncomingEvent("svc/go", {}, 1, "")], now=timezone.now())
    return Run.objects.get(function=function)


def _claim_all() -> list[int]:
    return [item.id for item in queue_claim(owner="test", capacity=10, lease_seconds=30)]


def _answer(item_id: int, response: CallResponse) -> str:
    generation = QueueItem.objects.get(pk=item_id).generation  # the item's current request
    return call_response_apply(item_id=item_id, owner="test", response=response, generation=generation).result


def _planned(*names: str, mode: str | None = None) -> list[dict]:
    opts = {"parallelMode": mode} if mode else None
    return [{"op": "StepPlanned", "id": f"hash-{n}", "name": n, "displayName": n, "opts": opts} for n in names]


SDK_500 = {
    "code": "step_unexpected",
    "message": 'found step "after" when targeting a different step',
    "name": "StepUnexpectedError",
    "stack": None,
}


def test_a_failed_run_keeps_the_sdks_error_body_exactly_including_a_null_stack():
    run = _run()
    (item,) = _claim_all()

    assert _answer(item, CallResponse(status=500, from_sdk=True, no_retry=True, body=SDK_500)) == "failed"

    run.refresh_from_db()
    assert run.error == SDK_500  # before: {"name", "message", "code"}, the null stack dropped


def test_the_function_failed_event_has_inngests_error_shape_not_the_sdks_code():
    run = _run()
    (item,) = _claim_all()
    body = {"code": "unknown", "message": "intentional failure", "name": "MyError", "stack": "Traceback ..."}

    _answer(item, CallResponse(status=500, from_sdk=True, body=body))

    failed = Event.objects.get(name="inngest/function.failed")
    assert failed.data["run_id"] == run.run_id
    assert failed.data["error"] == {
        "error": "invalid status code: 500",
        "message": "intentional failure",
        "name": "MyError",
        "stack": "Traceback ...",
    }
    finished = Event.objects.get(name="inngest/function.finished")
    assert finished.data["error"] == failed.data["error"]


def test_a_step_planned_again_while_it_is_queued_or_running_is_not_queued_twice():
    """parallel_mode_race: each discovery re-plans the group's unfinished steps; Inngest's fixed job id ignores it."""
    _run()
    (discovery,) = _claim_all()
    _answer(discovery, CallResponse(status=206, from_sdk=True, body=_planned("a", "b", "c", mode="race")))
    a, b, c = sorted(QueueItem.objects.values_list("id", flat=True))
    leased = _claim_all()  # all three now running
    assert sorted(leased) == [a, b, c]

    # Step a finishes first: the race continues with a discovery, which plans b and c again (still running).
    assert _answer(a, CallResponse(status=206, from_sdk=True, body=[{"op": "StepRun", "id": "hash-a", "data": 1}]))
    (rediscovery,) = _claim_all()
    _answer(rediscovery, CallResponse(status=206, from_sdk=True, body=_planned("b", "c", mode="race")))

    steps = sorted(QueueItem.objects.exclude(step_id="step").values_list("step_id", flat=True))
    assert steps == ["hash-b", "hash-c"]  # before: hash-b, hash-b, hash-c, hash-c (each ran twice)
    assert RunSpan.objects.filter(op="StepPlanned", step_id="hash-b").count() == 1  # the ignored plan is no span


def test_a_done_step_planned_again_is_not_queued():
    _run()
    (discovery,) = _claim_all()
    _answer(discovery, CallResponse(status=206, from_sdk=True, body=_planned("a", "b")))
    a, b = sorted(_claim_all())
    _answer(a, CallResponse(status=206, from_sdk=True, body=[{"op": "StepRun", "id": "hash-a", "data": 1}]))
    _answer(b, CallResponse(status=206, from_sdk=True, body=[{"op": "StepRun", "id": "hash-b", "data": 2}]))
    (discovery,) = _claim_all()

    _answer(discovery, CallResponse(status=206, from_sdk=True, body=_planned("a", "b")))

    assert not QueueItem.objects.exclude(step_id="step").exists()


def test_a_run_complete_op_in_a_206_completes_the_run_with_its_data():
    """inngest-js v4 (checkpointing on) ends a run with a 206 `RunComplete` op."""
    run = _run()
    (item,) = _claim_all()
    done = [{"op": "RunComplete", "id": "complete", "data": {"sum": 6}}]

    assert _answer(item, CallResponse(status=206, from_sdk=True, body=done)) == "completed"

    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED  # before: failed, "opcode 'RunComplete' is not supported"
    assert run.output == {"sum": 6}
    assert RunSpan.objects.get(run=run).op == "RunComplete"


def test_a_run_starts_at_request_version_minus_one_and_keeps_the_version_the_sdk_answers_with():
    run = _run()
    (item,) = _claim_all()
    assert call_request_build(item_id=item, owner="test").body["version"] == -1  # before: always 2

    step = [{"op": "StepRun", "id": "hash-a", "name": "a", "data": 1}]
    _answer(item, CallResponse(status=206, from_sdk=True, body=step, request_version=1))
    (item,) = _claim_all()

    assert call_request_build(item_id=item, owner="test").body["version"] == 1
    run.refresh_from_db()
    assert run.request_version == 1


def test_a_sibling_failing_the_run_can_delete_the_other_siblings_item_while_that_one_waits_for_the_run():
    """Lock order run -> item: a step answering while its sibling ends the run must not hold its item's lock.

    Before, the answer locked `FOR UPDATE OF i, r` (item first): it held item B while waiting for the run that
    sibling A held, and A deleting item B to fail the run was a deadlock (PostgreSQL DeadlockDetected).
    """
    run = _run()
    (discovery,) = _claim_all()
    _answer(discovery, CallResponse(status=206, from_sdk=True, body=_planned("a", "b")))
    _, b = sorted(_claim_all())
    params = connection.get_connection_params()

    with psycopg.connect(**params) as sibling:
        # Sibling A is ending the run: it holds the run's lock.
        sibling.execute("SELECT 1 FROM engine_run WHERE id = %s FOR UPDATE", [run.pk])
        answered = threading.Event()
        errors: list[BaseException] = []

        def answer_b() -> None:
            try:
                _answer(b, CallResponse(status=206, from_sdk=True, body=[{"op": "StepRun", "id": "hash-b", "data": 2}]))
            except BaseException as error:  # the thread's failure is the test's: report it below
                errors.append(error)
            finally:
                connection.close()
                answered.set()

        worker = threading.Thread(target=answer_b)
        worker.start()
        _wait_until_blocked_on_a_lock(params, expected=1)

        # A deletes B's item to fail the run: it must not have to wait for B (NOWAIT raises if B holds it).
        sibling.execute("DELETE FROM engine_queueitem WHERE id = %s", [b], prepare=False)
        sibling.execute("SET lock_timeout = '1s'")
        sibling.execute("UPDATE engine_run SET status = 'failed' WHERE id = %s", [run.pk])
        sibling.commit()
        assert answered.wait(30)
        worker.join()

    assert errors == []  # before: DeadlockDetected in one of the two
    assert Run.objects.get(pk=run.pk).status == Run.Status.FAILED
    assert not QueueItem.objects.filter(pk=b).exists()


def _wait_until_blocked_on_a_lock(params: dict, *, expected: int) -> None:
    """Wait (on PostgreSQL's own view, not a clock) until `expected` sessions wait for a row lock."""
    with psycopg.connect(**params, autocommit=True) as observer:
        for _ in range(3000):
            (waiting,) = observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()
            if waiting >= expected:
                return
            observer.execute("SELECT pg_sleep(0.01)")
    raise AssertionError("the answer never waited for the run's lock")
