"""Faults in real processes: dispatchers (`manage.py run_engine`) killed, frozen with SIGSTOP, or stalled by a lock.

Each dispatcher is a process of its own on the test database; the steps run in this test process's live server,
which counts every execution of every step (`RECORDER`). What must hold whatever happens: every run completes, a
step whose result was stored never runs again, and nothing is sent on a lease that is lost. Only a step whose
request was in flight when its dispatcher died or froze may run a second time (at-least-once), never a third.
No timing: the tests wait for states (steps inside a gate, leases taken over, backends waiting on a lock).
"""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from jobs.engine.models import QueueItem, Run, StepMemo

from .dispatcher_process import dispatcher_process, stop_process

pytestmark = [
    pytest.mark.urls("tests.engine.urls"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive"),
    # Hundreds of requests through three processes: minutes on a machine loaded by other suites. pytest-timeout
    # interrupting one mid-query would leave its session holding locks that every later test waits on.
    pytest.mark.timeout(900),
]

STEPS = ("before", "held", "after")
# Long enough that a live dispatcher's heartbeat renews its leases on a loaded machine (a lease that runs out under
# a live dispatcher legitimately repeats a step whose answer was not yet stored, and these tests count exactly);
# the tests wait for the frozen or killed one's leases to run out, so it is also how long each of them waits.
LEASE_SECONDS = 5


def _send_relays(engine, count: int, *, gate: str) -> None:
    engine.send_many([{"name": "test/relay", "data": {"n": n, "gate": gate}} for n in range(count)])


def _executions(recorder) -> Counter[tuple[str, str]]:
    with recorder.lock:
        return Counter((e["run_id"], e["step"]) for e in recorder.executions)


def _ran(recorder, step: str) -> int:
    with recorder.lock:
        return sum(e["step"] == step for e in recorder.executions)


def _per_step(executions: Counter[tuple[str, str]], runs: list[Run]) -> dict[str, Counter[int]]:
    """For each step, how many runs ran it how many times: {"before": {1: 20}} means once in each of 20 runs."""
    return {step: Counter(executions[(run.run_id, step)] for run in runs) for step in STEPS}


def _leased_by(process) -> int:
    return QueueItem.objects.filter(lease_owner__contains=f":{process.pid}:").count()


def _backends_waiting_on(table: str) -> int:
    """Sessions of this database blocked on a lock while running a statement that names `table`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query LIKE %s",
            [f"%{table}%"],
        )
        return cursor.fetchone()[0]


@contextlib.contextmanager
def _table_lock(*tables: str) -> Iterator[psycopg.Connection]:
    """Hold ACCESS EXCLUSIVE locks on `tables` in a session of their own until the block ends (a stalled database)."""
    params = connection.get_connection_params()
    with psycopg.connect(**params) as session:
        session.execute("SET lock_timeout = '60s'")  # a session left holding one (a test killed mid-query) fails it
        session.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        yield session
        session.commit()


def _assert_all_completed(runs: list[Run]) -> None:
    assert Counter(run.status for run in runs) == {Run.Status.COMPLETED: len(runs)}
    assert [run.output for run in runs] == [[f"{step}-{run.events[0]['data']['n']}" for step in STEPS] for run in runs]
    assert StepMemo.objects.count() == 3 * len(runs)
    assert not QueueItem.objects.exists()


def test_a_dispatcher_killed_with_300_steps_in_flight_loses_nothing_and_reruns_no_completed_step(
    engine, recorder, wait_until
):
    engine.start_dispatcher(start=False)  # syncs the app only
    _send_relays(engine, 300, gate="g")
    doomed = dispatcher_process(engine, lease_seconds=LEASE_SECONDS)
    try:
        wait_until(lambda: _ran(recorder, "held") == 300, timeout=240, message="300 held steps in flight")
        assert StepMemo.objects.filter(name="before").count() == 300  # stored before their runs' next request
    finally:
        doomed.kill()
        doomed.wait()
    recorder.open("g")  # the 300 requests finish in the live server; their answers go nowhere

    survivor = dispatcher_process(engine, lease_seconds=LEASE_SECONDS)
    try:
        runs = engine.wait_for_runs("-relay", 300, timeout=240)
    finally:
        assert stop_process(survivor) == 0

    _assert_all_completed(runs)
    # `before` was stored before the kill and never ran again; `held` was in flight, so it ran again, once.
    assert _per_step(_executions(recorder), runs) == {"before": {1: 300}, "held": {2: 300}, "after": {1: 300}}


def test_a_dispatcher_frozen_between_claim_and_send_sends_nothing_when_it_thaws(engine, recorder, wait_until, tmp_path):
    engine.start_dispatcher(start=False)
    recorder.open("open")
    log = tmp_path / "frozen.log"
    # Building a request reads the run's memos: with their table locked, the frozen dispatcher's claims are stuck
    # between claim and send, and their requests get built while it is frozen.
    with _table_lock("engine_stepmemo"):
        frozen = dispatcher_process(engine, lease_seconds=LEASE_SECONDS, log=log)
        _send_relays(engine, 20, gate="open")
        wait_until(lambda: _leased_by(frozen) == 20, timeout=60, message="all 20 items claimed")
        wait_until(lambda: _backends_waiting_on("engine_stepmemo") > 0, timeout=60, message="a build to wait")
        frozen.send_signal(signal.SIGSTOP)
    try:
        other = dispatcher_process(engine, lease_seconds=LEASE_SECONDS)
        try:
            runs = engine.wait_for_runs("-relay", 20, timeout=120)  # while the frozen one holds nothing any more
        finally:
            assert stop_process(other) == 0
        executed = _executions(recorder)
        frozen.send_signal(signal.SIGCONT)
    finally:
        assert stop_process(frozen) == 0  # it finishes whatever it had in hand, then exits

    _assert_all_completed(runs)
    assert _executions(recorder) == executed  # thawing changed nothing
    assert _per_step(executed, runs) == {step: {1: 20} for step in STEPS}  # nothing was sent on a lost lease
    assert "lease ran out before sending" in log.read_text()  # it did reach the send with a stale lease


def test_a_dispatcher_frozen_with_requests_in_flight_changes_nothing_when_it_thaws(engine, recorder, wait_until):
    engine.start_dispatcher(start=False)
    frozen = dispatcher_process(engine, lease_seconds=LEASE_SECONDS)
    try:
        _send_relays(engine, 20, gate="g")
        wait_until(lambda: _ran(recorder, "held") == 20, timeout=60, message="20 held steps in flight")
        frozen.send_signal(signal.SIGSTOP)

        other = dispatcher_process(engine, lease_seconds=LEASE_SECONDS)
        try:
            # Its leases run out; the other dispatcher takes the items over and sends the held steps again.
            wait_until(lambda: _ran(recorder, "held") == 40, timeout=60, message="the held steps sent again")
            assert _leased_by(frozen) == 0
            recorder.open("g")  # both requests of each held step finish; the frozen one's answers wait in its sockets
            runs = engine.wait_for_runs("-relay", 20, timeout=120)
        finally:
            assert stop_process(other) == 0
        executed = _executions(recorder)
        memos = list(StepMemo.objects.order_by("id").values_list("run__run_id", "name", "memo"))
        frozen.send_signal(signal.SIGCONT)
    finally:
        assert stop_process(frozen) == 0

    _assert_all_completed(runs)
    assert _per_step(executed, runs) == {"before": {1: 20}, "held": {2: 20}, "after": {1: 20}}
    assert _executions(recorder) == executed  # its stale answers were refused and it sent nothing more
    assert list(StepMemo.objects.order_by("id").values_list("run__run_id", "name", "memo")) == memos


def test_a_dispatcher_frozen_inside_its_claim_transaction_does_not_block_the_others(engine, recorder, wait_until):
    engine.start_dispatcher(start=False)
    recorder.open("open")
    # A claim ends by marking the key queues it served: with that table locked, the claim waits inside its
    # transaction, holding the claim lock and its candidates' row locks, and is frozen there.
    with _table_lock("engine_keyqueue"):
        _send_relays(engine, 20, gate="open")
        frozen = dispatcher_process(engine, lease_seconds=LEASE_SECONDS)
        wait_until(lambda: _backends_waiting_on("engine_keyqueue") > 0, timeout=60, message="the claim to wait")
        frozen.send_signal(signal.SIGSTOP)
    try:
        other = dispatcher_process(engine, lease_seconds=LEASE_SECONDS)
        try:
            runs = engine.wait_for_runs("-relay", 20, timeout=120)
        finally:
            assert stop_process(other) == 0
        executed = _executions(recorder)
        frozen.send_signal(signal.SIGCONT)
    finally:
        assert stop_process(frozen) == 0

    _assert_all_completed(runs)
    assert _per_step(executed, runs) == {step: {1: 20} for step in STEPS}
    assert _executions(recorder) == executed


@pytest.mark.parametrize("gate_opens", ["during the stall", "after the stall"])
def test_a_database_stalled_past_the_leases_reruns_no_completed_step(engine, recorder, wait_until, gate_opens):
    engine.start_dispatcher(start=False)
    dispatchers = [
        dispatcher_process(engine, lease_seconds=LEASE_SECONDS),
        dispatcher_process(engine, lease_seconds=LEASE_SECONDS),
    ]
    try:
        _send_relays(engine, 20, gate="g")
        wait_until(lambda: _ran(recorder, "held") == 20, timeout=60, message="20 held steps in flight")
        with _table_lock("engine_queueitem", "engine_run") as stalled:
            if gate_opens == "during the stall":
                recorder.open("g")  # the answers arrive and wait on the lock with every heartbeat and claim
            # Longer than a lease: every lease held has run out by the database's clock before the lock goes.
            wait_until(
                lambda: (
                    not stalled.execute(
                        "SELECT 1 FROM engine_queueitem WHERE lease_expires_at > clock_timestamp() LIMIT 1"
                    ).fetchone()
                ),
                timeout=60,
                message="the leases to run out",
            )
            assert _backends_waiting_on("engine_") > 0
        recorder.open("g")
        runs = engine.wait_for_runs("-relay", 20, timeout=120)
    finally:
        for process in dispatchers:
            assert stop_process(process) == 0

    _assert_all_completed(runs)
    per_step = _per_step(_executions(recorder), runs)
    # Stored before or after the stall: once. In flight through it: its answer may be refused, so twice at most.
    assert per_step["before"] == {1: 20} and per_step["after"] == {1: 20}
    assert set(per_step["held"]) <= {1, 2}, per_step["held"]
