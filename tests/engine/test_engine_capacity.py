"""Capacity: hundreds of steps in flight from one dispatcher, bounded only by the functions' concurrency limits.

No timing: the steps wait at barriers that open only when enough of them are inside at once (capacity_functions).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from jobs.engine.models import QueueItem, Run

from .capacity_functions import GATES

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gates():
    GATES.clear()
    yield GATES
    for barrier in GATES.values():
        barrier.abort()  # a failed test must not leave steps waiting in the live server
    GATES.clear()


def test_one_dispatcher_holds_300_steps_in_flight_at_once(engine, recorder, gates):
    gates["all"] = threading.Barrier(300)
    engine.start_dispatcher()  # the defaults: ENGINE_MAX_IN_FLIGHT 500, ENGINE_WORKERS 8 database threads

    engine.send_many([{"name": "test/gathered", "data": {"n": n}} for n in range(300)])

    runs = engine.wait_for_runs("-gathered", 300, timeout=180)
    assert Counter(run.status for run in runs) == {Run.Status.COMPLETED: 300}
    assert recorder.max_running["all"] == 300  # all inside the step at once: the barrier opened for them
    assert not QueueItem.objects.exists()


def test_1000_runs_over_20_keys_never_exceed_the_limit_of_5_per_key(engine, recorder, gates):
    tenants = [f"agency-{n:02}" for n in range(20)]
    for tenant in tenants:
        gates[tenant] = threading.Barrier(5)  # opens only with 5 of the tenant's steps inside at once
    engine.start_dispatcher()

    engine.send_many([{"name": "test/keyed", "data": {"tenantId": tenants[n % 20]}} for n in range(1000)])

    runs = engine.wait_for_runs("-keyed", 1000, timeout=600)
    assert Counter(run.status for run in runs) == {Run.Status.COMPLETED: 1000}
    # Counted by the steps themselves: each key reached its limit (its barrier opened) and never went past it.
    assert {tenant: recorder.max_running[tenant] for tenant in tenants} == dict.fromkeys(tenants, 5)
    inside = Counter(e["tenant"] for e in recorder.executions if e["step"] == "inside")
    assert inside == dict.fromkeys(tenants, 50)  # every step ran once
