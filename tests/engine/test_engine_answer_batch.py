"""Answers stored in batches (group commit): jobs/engine/answer_batch.py and services/answers.py
`call_responses_apply`.

Answers that arrive together commit in one transaction; each is still applied under its own lease token and
generation, in a savepoint of its own, so a stale one is refused and a failing one rolled back while its neighbours
commit. Driven through the services and the collector (no HTTP), so each answer and its timing are the test's:
commits are counted, nothing is timed.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from jobs.engine.answer_batch import AnswerCollector
from jobs.engine.executor import StepLoop
from jobs.engine.models import App, Function, QueueItem, Run, StepMemo, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services import answers
from jobs.engine.services.answers import BatchedAnswer, CallResponse, call_response_apply, call_responses_apply
from jobs.engine.services.claims import ClaimedItem, queue_claim, queue_reap_expired, queue_release, queue_renew
from jobs.engine.services.intake import system_events_store
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def commits(monkeypatch) -> list[str]:
    """The commits made from now on, by the name of the thread that made each."""
    made: list[str] = []
    commit = BaseDatabaseWrapper.commit

    def counted(self) -> None:
        commit(self)
        made.append(threading.current_thread().name)

    monkeypatch.setattr(BaseDatabaseWrapper, "commit", counted)
    return made


def _claimed(count: int) -> list[ClaimedItem]:
    """`count` runs, each with its first discovery item leased under the token "test"; in run order."""
    app = App.objects.create(name="batch", url="http://batch/api/inngest")
    function = Function.objects.create(app=app, slug="batch-fn", step_url="http://batch/api/inngest?fnId=batch-fn")
    Trigger.objects.create(function=function, event_name="batch/go")
    system_events_store([IncomingEvent("batch/go", {"n": n}, 1, "") for n in range(count)], now=timezone.now())
    items = queue_claim(owner="test", capacity=count, lease_seconds=30)
    assert len(items) == count
    return sorted(items, key=lambda item: item.run_pk)


def _step_answer(item: ClaimedItem, *, owner: str = "test", generation: int | None = None) -> BatchedAnswer:
    """The SDK's answer to a discovery request: one step run inline (the common answer)."""
    body = [{"op": "StepRun", "id": f"hash-{item.run_pk}", "displayName": "step", "data": item.run_pk}]
    response = CallResponse(status=206, from_sdk=True, body=body)
    generation = item.generation if generation is None else generation
    return BatchedAnswer(item.id, item.run_pk, owner, response, generation)


def _results(outcomes: list) -> list[str]:
    return [outcome.result if hasattr(outcome, "result") else type(outcome).__name__ for outcome in outcomes]


def _stepped(item: ClaimedItem) -> bool:
    """The answer was stored: the step's memo, and the item moved on to the next discovery (a new generation)."""
    queued = QueueItem.objects.get(pk=item.id)
    return StepMemo.objects.filter(run_id=item.run_pk).exists() and (queued.generation, queued.lease_owner) == (
        item.generation + 1,
        None,
    )


def _untouched(item: ClaimedItem, *, owner: str = "test") -> bool:
    """Nothing of the answer was stored: no memo, the item still leased for the same request."""
    queued = QueueItem.objects.get(pk=item.id)
    run = Run.objects.get(pk=item.run_pk)
    return (
        not StepMemo.objects.filter(run_id=item.run_pk).exists()
        and (queued.generation, queued.lease_owner, run.steps_done) == (item.generation, owner, 0)
        and not run.spans.exists()
    )


def test_answers_applied_together_commit_once(commits):
    items = _claimed(3)
    commits.clear()
    outcomes = call_responses_apply([_step_answer(item) for item in reversed(items)])

    assert _results(outcomes) == ["step", "step", "step"]  # in the order given, whatever the lock order
    assert all(_stepped(item) for item in items)
    assert len(commits) == 1  # one transaction for the three (one each before batching)


@pytest.mark.parametrize("failure", ["database error", "python error"])
def test_one_answers_error_does_not_lose_the_others_in_its_batch(commits, monkeypatch, failure):
    """The failing answer rolls back to its own savepoint (its on_commit callbacks dropped with it), is applied
    again alone (and fails again: its waiter gets the error, as without batching), the others commit together."""
    first, failing, last = _claimed(3)
    announced: list[int] = []
    spans_insert = answers.spans_insert

    def spans_insert_failing_for_one(run_pk, spans):
        spans_insert(run_pk, spans)
        transaction.on_commit(lambda: announced.append(run_pk))
        if run_pk == failing.run_pk:
            if failure == "database error":  # the transaction is aborted until its savepoint is rolled back
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1 / 0")
            raise RuntimeError("the answer's own failure")

    monkeypatch.setattr(answers, "spans_insert", spans_insert_failing_for_one)
    commits.clear()
    outcomes = call_responses_apply([_step_answer(first), _step_answer(failing), _step_answer(last)])

    expected_error = "DataError" if failure == "database error" else "RuntimeError"
    assert _results(outcomes) == ["step", expected_error, "step"]
    assert _stepped(first) and _stepped(last)
    assert _untouched(failing)  # its lease runs out and the step is sent again, as before batching
    assert sorted(announced) == [first.run_pk, last.run_pk]
    assert len(commits) == 1  # the batch; the failing answer's own transaction rolled back


def test_a_stale_answer_in_a_batch_is_refused_while_its_neighbours_apply(commits):
    """Issue 19's fence inside a batch: an answer for an older request of its item (a claim took the item again
    and the item had moved on), and one under a token that lost its lease, change nothing; the others apply."""
    first, moved_on, lost, last = _claimed(4)
    # `moved_on`'s first request was answered; its next request is leased again under the same token.
    assert call_response_apply(item_id=moved_on.id, owner="test", response=_step_answer(moved_on).response,
                               generation=moved_on.generation).result == "step"  # fmt: skip
    (again,) = queue_claim(owner="test", capacity=1, lease_seconds=30)
    assert (again.id, again.generation) == (moved_on.id, moved_on.generation + 1)
    QueueItem.objects.filter(pk=lost.id).update(lease_owner="another claim")
    commits.clear()

    outcomes = call_responses_apply(
        [_step_answer(first), _step_answer(moved_on), _step_answer(lost, owner="test"), _step_answer(last)]
    )

    assert _results(outcomes) == ["step", "stale-answer", "lease-lost", "step"]
    assert _stepped(first) and _stepped(last)
    assert _untouched(lost, owner="another claim")
    queued, run = QueueItem.objects.get(pk=moved_on.id), Run.objects.get(pk=moved_on.run_pk)
    assert (queued.generation, queued.lease_owner, run.steps_done) == (again.generation, "test", 1)
    assert len(commits) == 1


def test_an_answer_that_deadlocks_in_its_batch_is_applied_again_alone(commits, caplog):
    """Another transaction holds the second run's lock and then waits for the first's, which the batch holds
    while it waits for the second: PostgreSQL ends the batch's statement (the batch waited first, so its deadlock
    check runs first), that answer is rolled back to its savepoint, the batch commits the first, and the second
    is applied alone once the other transaction is over."""
    first, second = _claimed(2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (batch_pid,) = cursor.fetchone()
    other_ended = []

    def other_transaction() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '60s'")  # the batch's check, not this one's, ends it
                cursor.execute("SELECT 1 FROM engine_run WHERE id = %s FOR UPDATE", [second.run_pk])
                locked.set()
                wait_for(lambda: _waiting_for_a_lock(cursor, batch_pid), message="the batch waiting for the lock")
                cursor.execute("SELECT 1 FROM engine_run WHERE id = %s FOR UPDATE", [first.run_pk])
            other_ended.append("committed")
        finally:
            connections.close_all()

    locked = threading.Event()
    commits.clear()
    other = threading.Thread(target=other_transaction)
    other.start()
    assert locked.wait(30)
    with caplog.at_level("WARNING", logger=answers.logger.name):
        outcomes = call_responses_apply([_step_answer(first), _step_answer(second)])
    other.join(30)

    assert _results(outcomes) == ["step", "step"]
    assert other_ended == ["committed"]
    assert _stepped(first) and _stepped(second)
    assert [record.item for record in caplog.records if record.msg.startswith("answer failed")] == [second.id]
    assert commits.count("MainThread") == 2  # the batch (with the first), then the second alone


def _waiting_for_a_lock(cursor, pid: int) -> bool:
    cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
    return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("batching", [True, False])
def test_answers_arriving_while_a_batch_is_stored_go_together(commits, batching):
    """The first answer goes at once, alone; two arriving while it is stored wait and then commit together."""
    items = _claimed(3)
    steps = StepLoop(db_threads=2, max_connections=4, timeout=10)
    steps.start()
    gate = threading.Event()
    commits.clear()

    async def db_held_at_the_gate(function, /, *args, **kwargs):
        def held():
            assert gate.wait(30)
            return function(*args, **kwargs)

        return await steps.db(held)

    collector = AnswerCollector(db_held_at_the_gate, enabled=batching, at_once=1)
    try:
        first = steps.submit(collector.apply(_step_answer(items[0])))
        wait_for(lambda: collector.storing == 1 or not batching, message="the first answer being stored")
        others = [steps.submit(collector.apply(_step_answer(item))) for item in items[1:]]
        wait_for(lambda: collector.queued == 2 or not batching, message="two answers queued behind it")
        gate.set()
        outcomes = [future.result(30) for future in [first, *others]]
    finally:
        steps.stop(10)

    assert _results(outcomes) == ["step", "step", "step"]
    assert all(_stepped(item) for item in items)
    stored_by_the_loop = [name for name in commits if name.startswith("engine-db")]
    if batching:
        assert collector.batch_sizes == {1: 1, 2: 1}
        assert len(stored_by_the_loop) == 2
    else:
        assert collector.batch_sizes == {}
        assert len(stored_by_the_loop) == 3


def test_answers_go_at_once_while_fewer_than_at_once_batches_are_stored(commits):
    """With two batches at once, the first two answers each go alone at once; the two arriving while both are
    being stored wait, and then commit together."""
    items = _claimed(4)
    steps = StepLoop(db_threads=3, max_connections=4, timeout=10)
    steps.start()
    gate = threading.Event()
    commits.clear()

    async def db_held_at_the_gate(function, /, *args, **kwargs):
        return await steps.db(lambda: gate.wait(30) and function(*args, **kwargs))

    collector = AnswerCollector(db_held_at_the_gate, enabled=True, at_once=2)
    try:
        futures = [steps.submit(collector.apply(_step_answer(items[0])))]
        wait_for(lambda: collector.storing == 1 and collector.queued == 0, message="the first answer being stored")
        futures.append(steps.submit(collector.apply(_step_answer(items[1]))))
        wait_for(lambda: collector.storing == 2 and collector.queued == 0, message="the second one being stored")
        futures += [steps.submit(collector.apply(_step_answer(item))) for item in items[2:]]
        wait_for(lambda: collector.queued == 2, message="two answers queued behind them")
        gate.set()
        outcomes = [future.result(30) for future in futures]
    finally:
        steps.stop(10)

    assert _results(outcomes) == ["step"] * 4
    assert collector.batch_sizes == {1: 2, 2: 1}
    assert len([name for name in commits if name.startswith("engine-db")]) == 3


def test_the_collector_is_in_the_dispatcher_on_by_default(settings):
    from jobs.engine.dispatcher import Dispatcher

    assert settings.ENGINE_ANSWER_BATCH is True
    assert Dispatcher(app_urls=["http://batch/api/inngest"]).answers.enabled
    assert not Dispatcher(app_urls=["http://batch/api/inngest"], answer_batch=False).answers.enabled


def test_the_heartbeat_the_reaper_and_a_stopping_dispatcher_pass_over_items_an_answer_batch_holds_locked():
    """The heartbeat renews many leases, the reaper frees many and a stopping dispatcher gives its leases back, in
    one statement each, in no set order; waiting for an item a batch of answers holds locked deadlocked against the
    batch (which holds several and may wait for one of theirs), and a deadlock left every lease unrenewed. They skip
    a locked item instead: its answer ends its lease, or the next beat renews it, or (a release) it runs out.
    `lock_timeout` only stops a statement that would wait (it fails at once)."""
    locked, renewed_one, reaped_one, released_one = _claimed(4)
    past = timezone.now() - timedelta(seconds=1)
    QueueItem.objects.filter(pk__in=[locked.id, reaped_one.id]).update(lease_expires_at=past)
    holding, release = threading.Event(), threading.Event()

    def answer_holding_its_item() -> None:  # as a batch's item_lock holds it until the batch commits
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM engine_queueitem WHERE id = %s FOR UPDATE", [locked.id])
                holding.set()
                assert release.wait(30)
        finally:
            connections.close_all()

    other = threading.Thread(target=answer_holding_its_item)
    other.start()
    try:
        assert holding.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")
        reaped = queue_reap_expired()
        renewed = queue_renew(held={locked.id: "test", renewed_one.id: "test"}, lease_seconds=30)
        released = queue_release(held={locked.id: "test", released_one.id: "test"})
    finally:
        release.set()
        other.join(30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert reaped == 1 and QueueItem.objects.get(pk=reaped_one.id).lease_owner is None
    assert renewed == [renewed_one.id]
    assert released == 1 and QueueItem.objects.get(pk=released_one.id).lease_owner is None
    assert QueueItem.objects.get(pk=locked.id).lease_owner == "test"  # neither freed, renewed nor released while locked
