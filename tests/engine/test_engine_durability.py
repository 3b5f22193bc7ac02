"""A dispatcher killed with SIGKILL mid-run loses nothing, and no step whose memo was stored runs again."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from jobs.engine.models import QueueItem, Run, StepMemo

from .dispatcher_process import dispatcher_process

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def test_a_dispatcher_killed_mid_run_loses_nothing_and_reruns_no_completed_step(engine, recorder, wait_until):
    engine.start_dispatcher(start=False)  # sync only
    engine.send_many([{"name": "test/three.step", "data": {"pause": 0.05}} for _ in range(16)])
    process = dispatcher_process(engine)
    try:
        wait_until(lambda: StepMemo.objects.count() >= 12, timeout=60, message="the dispatcher to store some steps")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    time.sleep(0.2)  # requests already inside the live server finish; their answers went nowhere
    memoized = set(StepMemo.objects.values_list("run__run_id", "name"))
    unfinished = Run.objects.exclude(status=Run.Status.COMPLETED).count()
    assert 0 < len(memoized) < 48 and unfinished > 0  # killed genuinely mid-way

    engine.start_dispatcher()

    runs = engine.wait_for_runs("-three-step", 16, timeout=60)
    assert {run.status for run in runs} == {Run.Status.COMPLETED}
    executions = Counter((e["run_id"], e["step"]) for e in recorder.executions)
    assert all(executions[step] == 1 for step in memoized), [s for s in memoized if executions[s] != 1]
    assert {run.output["results"] == ["one", "two", "three"] for run in runs} == {True}
    assert StepMemo.objects.count() == 48
    assert not QueueItem.objects.exists()
