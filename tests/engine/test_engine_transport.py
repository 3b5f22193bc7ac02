"""A step request that gets no answer: nobody listening, or a server that never answers. Each attempt fails with
what went wrong, is retried like any failed attempt, and the last one fails the run saying why."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from jobs.engine.models import Function, Run

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that takes connections into its backlog and never reads or answers them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/inngest"
    listener.close()


def _closed_port_url() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens here now: connecting is refused
    return f"http://127.0.0.1:{port}/api/inngest"


def _point_three_step_at(url: str) -> None:
    Function.objects.filter(slug__endswith="-three-step").update(step_url=f"{url}?fnId=three-step")


def test_a_refused_connection_fails_each_attempt_and_the_run_says_why(engine):
    engine.start_dispatcher(start=False)
    _point_three_step_at(_closed_port_url())
    engine.dispatchers[0].start()

    engine.send("test/three.step", {"n": 1})

    (run,) = engine.wait_for_runs("-three-step", 1)
    assert run.status == Run.Status.FAILED
    assert run.error["name"] == "RequestFailed"
    assert run.error["message"].startswith("the serve endpoint could not be reached: ClientConnectorError")
    assert [(record.attempt, record.http_status) for record in engine.records] == [(0, None), (1, None), (2, None)]


def test_a_server_that_never_answers_times_out_each_attempt_and_the_run_says_why(engine, silent_server):
    engine.start_dispatcher(start=False, step_timeout=1.0)
    _point_three_step_at(silent_server)
    engine.dispatchers[0].start()

    engine.send("test/three.step", {"n": 1})

    (run,) = engine.wait_for_runs("-three-step", 1)
    assert run.status == Run.Status.FAILED
    assert run.error["message"] == "the serve endpoint could not be reached: TimeoutError: no answer within 1 s"
    assert [record.attempt for record in engine.records] == [0, 1, 2]
