"""A dispatcher killed with SIGKILL mid-run loses nothing, and no step whose memo was stored runs again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from jobs.engine.models import QueueItem, Run, StepMemo

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def _dispatcher_process(engine) -> subprocess.Popen[bytes]:
    """`manage.py run_engine` in its own process, on this test's database, calling this test's live server."""
    env = dict(os.environ)
    test_db = connection.settings_dict["NAME"]
    if env.get("DATABASE_URL"):
        parts = urlsplit(env["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{test_db}"))
    else:
        env["EMBEDDED_DB_NAME"] = test_db
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "nurturehub.settings",
            "DEBUG": "true",
            "LOCAL_ENGINE_ENABLED": "true",
            "INNGEST_DEV": "true",
            "INNGEST_BASE_URL": engine.url,
            "ENGINE_APP_URLS": engine.serve_url,
            "ENGINE_WORKERS": "4",
            "ENGINE_DELAY_SCALE": "0.001",
            "ENGINE_LEASE_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    return subprocess.Popen(  # noqa: S603
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_engine"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
    )


def test_a_dispatcher_killed_mid_run_loses_nothing_and_reruns_no_completed_step(engine, recorder, wait_until):
    engine.start_dispatcher(start=False)  # sync only
    engine.send_many([{"name": "test/three.step", "data": {"pause": 0.05}} for _ in range(16)])
    process = _dispatcher_process(engine)
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
