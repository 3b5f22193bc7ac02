"""A `run_engine` process whose poll never comes (ENGINE_POLL_INTERVAL an hour) still picks up new work at once:
every place that stores work for a dispatcher wakes it (NOTIFY on commit, wakeup.py), and every timer is read from
the tables. Nothing is timed: each run must go through before the next is sent, so a wake that is missing leaves
the test waiting on a poll an hour away (and failing when its bound, only there to end a hung test, runs out).
"""

from __future__ import annotations

import httpx
import pytest
from django.db import connection

from .dispatcher_process import dispatcher_process, stop_process

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]

NO_POLL = {"ENGINE_POLL_INTERVAL": "3600"}


def _listening() -> bool:
    """The dispatcher's LISTEN connection is subscribed (a NOTIFY sent before then would wake nobody)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN engine_work'"
        )
        return cursor.fetchone()[0] > 0


@pytest.fixture
def no_poll_dispatcher(engine, wait_until):
    engine.start_dispatcher(start=False)  # sync only
    process = dispatcher_process(engine, lease_seconds=60, **NO_POLL)
    try:
        wait_until(_listening, timeout=60, message="the dispatcher listening")
        yield process
    finally:
        stop_process(process)


def test_each_new_event_and_each_sleep_is_picked_up_without_a_poll(engine, recorder, no_poll_dispatcher):
    for done in range(1, 6):  # one at a time: each run's first request needs a wake of its own
        engine.send("test/three.step")
        engine.wait_for_runs("-three-step", done, timeout=30)
    engine.send("test/sleeper", {"seconds": 5})  # a 5 ms sleep (scale 0.001): its wake time is a timer
    [run] = engine.wait_for_runs("-sleeper", 1, timeout=30)

    assert run.status == "completed"
    assert len(recorder.executions) == 5 * 3 + 2


def test_a_cancel_that_frees_a_concurrency_slot_wakes_the_dispatcher(engine, recorder, no_poll_dispatcher, wait_until):
    # `limited` allows 2 runs of a tenant at once; all three meet at a barrier of 3, so the first two hold both
    # slots until the third arrives, and the third can only start once a cancel frees a slot. Before, a cancel
    # (here by HTTP, as the REST API does) told no dispatcher: the third run waited for the next poll.
    for seq in range(3):
        engine.send("test/limited", {"tenantId": "t-wake", "meet": 3, "seq": seq})
    wait_until(lambda: len(recorder.executions) == 2, timeout=30, message="two runs holding both slots")
    first = recorder.executions[0]["run_id"]
    assert httpx.delete(f"{engine.url}/v1/runs/{first}", timeout=30).status_code == 200

    runs = engine.wait_for_runs("-limited", 2, timeout=30)  # the third met the others at the barrier
    assert sorted(run.status for run in runs) == ["completed", "completed"]
    assert sorted(entry.get("seq") for entry in recorder.executions if entry["step"] == "work") == [0, 1, 2]
