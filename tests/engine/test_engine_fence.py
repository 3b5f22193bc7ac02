"""The fence on step requests (jobs/engine/fence.py, checked by jobs/serve.py) and on answers (services/answers.py).

The serve endpoint runs a step only for the claim and the request of the item that is current; a stale request is
refused with 409 before the SDK runs anything. An answer is applied only to the request (generation) it answers.
Process tests count, from the journal every step body writes as it starts (fence_functions.py), the completed
steps executed again: it must be 0.
"""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from jobs.engine.fence import Fence
from jobs.engine.models import QueueItem, Run, StepMemo
from jobs.engine.services.answers import CallResponse, Result, call_response_apply
from jobs.engine.services.call_request import call_request_build
from jobs.engine.services.claims import queue_claim

from .dispatcher_process import dispatcher_process, stop_process
from .fence_functions import WebQueue, journal_steps
from .functions import GATED_SERVE_PATH
from .test_engine_faults import _backends_waiting_on, _table_lock
from .web_process import gunicorn_process, read_journal

pytestmark = [
    pytest.mark.urls("tests.engine.urls"),
    pytest.mark.django_db(transaction=True),
]

LEASE_SECONDS = 5  # as the fault tests: a live dispatcher's heartbeat keeps it on a loaded machine


def _journal(recorder) -> list[dict]:
    with recorder.lock:
        return [dict(e) for e in recorder.executions if "memo_existed" in e]


def _completed_reexecutions(recorder) -> int:
    """Step bodies that started while their own memo was already stored."""
    return sum(e["memo_existed"] for e in _journal(recorder))


def _claimed_request(engine, *, owner: str = "claim-1"):
    """One journal run's first request, built under a real claim of its queue item."""
    engine.start_dispatcher(start=False)  # syncs the app only
    engine.send("test/journal", {"n": 1})
    (item,) = queue_claim(owner=owner, capacity=1, lease_seconds=30)
    request = call_request_build(item_id=item.id, owner=owner)
    assert request is not None
    return item, request


def _post(request, fence: str | None) -> httpx.Response:
    headers = {"X-Run-ID": request.run_id}
    if fence is not None:
        headers["X-Engine-Fence"] = fence
    return httpx.post(request.url, json=request.body, headers=headers, timeout=30)


def test_a_request_under_the_current_claim_runs_its_step(engine, recorder):
    item, request = _claimed_request(engine)
    response = _post(request, Fence(item.id, request.generation, "claim-1").header())
    assert response.status_code == 206, response.text
    assert [e["step"] for e in _journal(recorder)] == ["one"]


@pytest.mark.parametrize(
    ("change", "fence"),
    [
        ("claimed again", lambda item, gen: Fence(item.id, gen, "claim-1")),
        ("moved on", lambda item, gen: Fence(item.id, gen, "claim-1")),
        ("lease ran out", lambda item, gen: Fence(item.id, gen, "claim-1")),
        ("none", lambda item, gen: Fence(item.id, gen + 1, "claim-1")),  # a request for another generation
        ("none", lambda item, gen: Fence(item.id, gen, "claim-0")),  # another claim's token
    ],
)
def test_a_stale_request_is_refused_with_409_before_the_step_runs(engine, recorder, change, fence):
    item, request = _claimed_request(engine)
    rows = QueueItem.objects.filter(pk=item.id)
    if change == "claimed again":
        rows.update(lease_owner="claim-2")
    elif change == "moved on":
        rows.update(generation=request.generation + 1)
    elif change == "lease ran out":
        rows.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    response = _post(request, fence(item, request.generation).header())
    assert response.status_code == 409, response.text
    assert response.headers["X-Engine-Fence"] == "refused"
    assert response.json()["code"] == "engine_fence_refused"
    assert _journal(recorder) == []  # the SDK ran nothing


@pytest.mark.parametrize("value", ["", "12", "x:0:claim", "1:x:claim", "1:0:"])
def test_a_malformed_fence_is_a_400_naming_the_header(engine, recorder, value):
    _, request = _claimed_request(engine)
    response = _post(request, value)
    assert response.status_code == 400, response.text
    assert "X-Engine-Fence" in response.json()["error"]
    assert _journal(recorder) == []


def test_a_request_without_a_fence_is_not_checked_as_from_inngest_cloud(engine, recorder):
    item, request = _claimed_request(engine)
    QueueItem.objects.filter(pk=item.id).update(lease_owner="someone-else")
    assert _post(request, None).status_code == 206
    assert [e["step"] for e in _journal(recorder)] == ["one"]


def test_a_fence_where_the_engine_is_not_installed_is_a_400_and_runs_nothing(engine, recorder, monkeypatch):
    item, request = _claimed_request(engine)
    monkeypatch.setattr("jobs.serve.apps.is_installed", lambda name: name != "jobs.engine")  # as on Inngest Cloud
    response = _post(request, Fence(item.id, request.generation, "claim-1").header())
    assert response.status_code == 400, response.text
    assert "LOCAL_ENGINE_ENABLED" in response.json()["error"]
    assert _journal(recorder) == []


def test_an_answer_for_an_older_request_of_the_item_is_refused_whatever_claim_it_comes_under(engine):
    item, request = _claimed_request(engine)
    answer = CallResponse(
        status=206,
        from_sdk=True,
        body=[{"op": "StepRun", "id": "h-one", "name": "one", "displayName": "one", "data": "one-1"}],
    )
    first = call_response_apply(item_id=item.id, owner="claim-1", response=answer, generation=request.generation)
    assert first.result == Result.STEP
    # The item moved on to the run's next discovery; a re-claim takes it, and an adopted late copy of the first
    # request's answer arrives under the new claim's token.
    (again,) = queue_claim(owner="claim-2", capacity=1, lease_seconds=30)
    assert again.id == item.id and again.generation == request.generation + 1
    late = call_response_apply(item_id=item.id, owner="claim-2", response=answer, generation=request.generation)
    assert late.result == Result.STALE_ANSWER
    assert QueueItem.objects.get(pk=item.id).lease_owner == "claim-2"  # untouched: the new claim's request decides
    assert QueueItem.objects.get(pk=item.id).generation == again.generation
    assert list(Run.objects.get().memos.values_list("name", flat=True)) == ["one"]


@contextlib.contextmanager
def _queue_table_stalled() -> Iterator[None]:
    """The queue table locked against writes in a session of its own (a stalled database): reads go on, the
    heartbeat's renewals and the reaper wait."""
    with psycopg.connect(**connection.get_connection_params()) as session:
        session.execute("SET lock_timeout = '60s'")  # a session left holding one (a test killed mid-query) fails it
        session.execute("LOCK TABLE engine_queueitem IN EXCLUSIVE MODE")
        yield
        session.commit()


def _leases_all_expired() -> bool:
    return not QueueItem.objects.filter(lease_owner__isnull=False, lease_expires_at__gt=timezone.now()).exists()


@pytest.fixture
def web_server(engine, tmp_path):
    """gunicorn as `make run` starts it, serving the journal function behind the file gate of `tmp_path`."""
    queue = WebQueue(tmp_path / "web-queue")
    queue.configure(hold_per_run=1)
    journal = tmp_path / "journal.jsonl"
    env = {"WEB_QUEUE_DIR": str(queue.directory), "FENCE_JOURNAL": str(journal)}
    with gunicorn_process(engine, log=tmp_path / "gunicorn.log", **env) as url:
        yield SimpleNamespace(url=url, queue=queue, journal=journal)
        queue.open()  # nothing stays held past the test: gunicorn stops once its requests are answered


@pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive")
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("fault", "rounds", "runs", "steps", "pause"),
    [
        ("SIGKILL", 1, 20, 3, 0),
        ("SIGSTOP", 1, 20, 3, 0),
        ("database stall", 1, 20, 3, 0),
        # 300 slow steps (30 runs x 10, 0.1 s each) through three kills: 90 requests held at once, within the
        # 2 x 64 threads gunicorn has by default (held requests hold threads; the last dispatcher needs some).
        ("SIGKILL", 3, 30, 10, 0.1),
    ],
    ids=["killed", "frozen", "database-stalled", "killed-three-times-300-slow-steps"],
)
def test_requests_held_in_the_web_servers_queue_past_the_lease_run_no_completed_step_again(
    engine, web_server, wait_until, fault, rounds, runs, steps, pause
):
    """Each round, a dispatcher sends every run's next request, which the web server (gunicorn, as `make run`
    starts it) holds in its queue (the gate), and then loses its lease: killed, frozen (SIGSTOP), or stalled by a
    lock on the queue table past the lease (its heartbeat cannot renew; it is then frozen, so that the next
    dispatcher is the one to claim again). The last dispatcher runs every run to completion; only then do the held
    requests reach the serve view."""
    gated_url = f"{web_server.url}{GATED_SERVE_PATH}"
    web_queue = web_server.queue
    engine.start_dispatcher(app_urls=[gated_url], start=False)  # step URLs through the web-queue gate
    web_queue.configure(hold_per_run=rounds)
    engine.send_many([{"name": "test/journal", "data": {"n": n, "steps": steps, "pause": pause}} for n in range(runs)])
    stopped = []
    try:
        for round_number in range(1, rounds + 1):
            doomed = dispatcher_process(engine, lease_seconds=LEASE_SECONDS, ENGINE_APP_URLS=gated_url)
            wait_until(lambda n=round_number: web_queue.held == runs * n, timeout=240, message="requests held")
            if fault == "SIGKILL":
                doomed.kill()  # its requests stay queued in the web server; its leases run out
                doomed.wait()
                continue
            stopped.append(doomed)
            if fault == "SIGSTOP":
                doomed.send_signal(signal.SIGSTOP)
                continue
            with _queue_table_stalled():
                wait_until(_leases_all_expired, timeout=120, message="the held requests' leases ran out")
                doomed.send_signal(signal.SIGSTOP)
        last = dispatcher_process(engine, lease_seconds=LEASE_SECONDS, ENGINE_APP_URLS=gated_url)
        try:
            finished = engine.wait_for_runs("-journal", runs, timeout=240)
        finally:
            assert stop_process(last) == 0
        web_queue.open()  # the queued requests reach the serve view now, every run's steps long stored
        wait_until(lambda: web_queue.finished() == runs * rounds, timeout=240, message="the held requests answered")
        memos = list(StepMemo.objects.order_by("id").values_list("run__run_id", "name", "memo"))
        for process in stopped:
            process.send_signal(signal.SIGCONT)  # it reads the refusals: nothing to store, nothing to retry
    finally:
        web_queue.open()
        for process in stopped:
            assert stop_process(process) == 0

    journal = read_journal(web_server.journal)
    reexecuted = sum(e["memo_existed"] for e in journal)  # completed steps executed again
    executions = Counter((e["run_id"], e["step"]) for e in journal)
    print(f"{fault} x{rounds}, {runs} runs x {steps} steps: {len(journal)} starts, {reexecuted} completed ones again")
    assert Counter(run.status for run in finished) == {Run.Status.COMPLETED: runs}
    assert list(StepMemo.objects.order_by("id").values_list("run__run_id", "name", "memo")) == memos
    assert reexecuted == 0
    assert web_queue.statuses == {409: runs * rounds}
    assert Counter(executions.values()) == {1: runs * steps}
    assert {step for _, step in executions} == set(journal_steps(steps))
    assert not QueueItem.objects.exists()


@pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive")
@pytest.mark.timeout(600)
def test_a_dispatcher_frozen_inside_its_claim_does_not_hold_up_the_others_for_its_lease(engine, recorder, wait_until):
    """A claimer frozen inside its claim's transaction (holding the claim lock) loses it within a second or two,
    not a lease: with a 120 s lease, the other dispatcher finishes every run while the frozen one is still frozen,
    and `wait_for_runs` gives up after 40 s without progress (a third of the lease: today's limit was the lease)."""
    engine.start_dispatcher(start=False)
    # A claim ends by marking the key queues it served: with that table locked, the claim waits inside its
    # transaction, holding the claim lock, and is frozen there; the lock on the table is then let go.
    with _table_lock("engine_keyqueue"):
        engine.send_many([{"name": "test/journal", "data": {"n": n}} for n in range(10)])
        frozen = dispatcher_process(engine, lease_seconds=120)
        wait_until(lambda: _backends_waiting_on("engine_keyqueue") > 0, timeout=60, message="the claim to wait")
        frozen.send_signal(signal.SIGSTOP)
    try:
        other = dispatcher_process(engine, lease_seconds=120)
        try:
            runs = engine.wait_for_runs("-journal", 10, timeout=40)
        finally:
            assert stop_process(other) == 0
        assert frozen.poll() is None  # still frozen: the others did not wait for it
    finally:
        assert stop_process(frozen) == 0

    assert Counter(run.status for run in runs) == {Run.Status.COMPLETED: 10}
    assert _completed_reexecutions(recorder) == 0
