"""The run ledger (JobRun / StepAttempt) through the real engine, from either source (jobs/ledger.py).

"engine": the local engine writes the ledger from its own records, in the transaction of each change; "sdk": the
SDK middleware writes it from the step requests, as on Inngest Cloud (the engine still runs the functions here,
so it is the only difference). Both must give operators the same rows.
"""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest
from django.db.backends.signals import connection_created

from jobs.engine.models import Run
from jobs.models import JobRun
from tests.conftest import LEDGER_SOURCES
from tests.engine.conftest import engine, engine_settings, recorder, wait_until  # noqa: F401 - the engine harness

from .ledger_functions import BENCH_PATH, SERVE_PATH, SLEEPER_PATH

pytestmark = [pytest.mark.urls("tests.ops.ledger_urls"), pytest.mark.django_db(transaction=True)]


def _send(engine, event_log) -> None:  # noqa: F811
    engine.send(event_log.name, event_log.payload, id=event_log.event_id)


def _rows(run: JobRun) -> dict:
    """What operators see of a run (the admin, the worklist, /metrics, the API), without timings."""
    return {
        "function": run.function_id,
        "tenant": run.tenant_id,
        "event_log": run.event_log_id,
        "status": run.status,
        "attempts": run.attempts,
        "output": run.output,
        "error_type": run.error_type,
        "error": {key: run.error.get(key) for key in ("name", "message")} if run.error else None,
        "stack": bool((run.error or {}).get("stack")),
        "queue_wait_known": run.queue_wait_ms is not None,
        "finished": run.finished_at is not None,
        "steps": sorted(
            (a.step_id, a.step_name, a.attempt, a.status, a.error, bool(a.traceback), a.next_retry_at is not None)
            for a in run.step_attempts.all()
        ),
    }


@pytest.mark.parametrize("ledger_source", LEDGER_SOURCES, indirect=True)
def test_either_source_gives_operators_the_same_rows(
    ledger_source,
    engine,  # noqa: F811
    tenant,
    make_event_log,
    wait_until,  # noqa: F811
):
    engine.start_dispatcher(app_urls=[f"{engine.url}{SERVE_PATH}"])
    event_log = make_event_log(tenant=tenant)

    _send(engine, event_log)

    def both_ended() -> bool:
        runs = {run.function_id: run for run in JobRun.objects.filter(event_id=event_log.event_id)}
        story, doomed = runs.get("ops-ledger-story"), runs.get("ops-ledger-doomed")
        return (
            story is not None
            and story.status == "completed"
            and doomed is not None
            and doomed.status == "failed"
            and "stack" in (doomed.error or {})  # the server's error: what the on_failure recorder stores
        )

    wait_until(both_ended, message="the story completed and the doomed run failed, in the ledger")
    story = JobRun.objects.get(event_id=event_log.event_id, function_id="ops-ledger-story")
    doomed = JobRun.objects.get(event_id=event_log.event_id, function_id="ops-ledger-doomed")
    assert _rows(story) == {
        "function": "ops-ledger-story",
        "tenant": tenant.id,
        "event_log": event_log.id,
        "status": "completed",
        "attempts": 2,
        "output": {"done": True},
        "error_type": "",
        "error": None,
        "stack": False,
        "queue_wait_known": True,
        "finished": True,
        "steps": [
            ("(function)", "function", 1, "completed", "", False, False),
            # A RetryAfterError raised inside the step leaves the SDK as the function's error: still its step's.
            ("flaky", "step.run", 1, "failed", "RetryAfterError: CRM says: slow down", True, True),
            ("flaky", "step.run", 2, "completed", "", False, False),
            ("nap", "sleep", 1, "completed", "", False, True),  # a sleep's "retry" time is its wake time
            ("plain", "step.run", 1, "failed", "ValueError: first time unlucky", True, True),
            ("plain", "step.run", 2, "completed", "", False, False),
        ],
    }
    assert _rows(doomed) == {
        "function": "ops-ledger-doomed",
        "tenant": tenant.id,
        "event_log": event_log.id,
        "status": "failed",
        "attempts": 0,
        "output": None,
        "error_type": "CrmAuthError",  # the cause the policy names first, not the NonRetriableError wrapper
        "error": {"name": "CrmAuthError", "message": "CrmAuthError: the token was revoked"},
        "stack": True,
        "queue_wait_known": True,
        "finished": True,
        "steps": [("doomed", "step.run", 1, "exhausted", "CrmAuthError: the token was revoked", True, False)],
    }


def test_the_engine_records_a_run_when_it_starts_before_any_step_request(
    ledger_source,
    engine,  # noqa: F811
    tenant,
    make_event_log,
    wait_until,  # noqa: F811
):
    assert ledger_source == "engine"  # the default with the local engine enabled
    dispatcher = engine.start_dispatcher(app_urls=[f"{engine.url}{SERVE_PATH}"], start=False)
    event_log = make_event_log(tenant=tenant)

    _send(engine, event_log)

    # The run's row is written with the engine's own run, by intake: no step request has been sent yet.
    started = JobRun.objects.get(event_id=event_log.event_id, function_id="ops-ledger-story")
    assert (started.status, started.tenant_id, started.event_log_id) == ("running", tenant.id, event_log.id)
    assert started.queue_wait_ms is None and not started.step_attempts.exists()

    dispatcher.start()
    wait_until(lambda: JobRun.objects.filter(pk=started.pk, status="completed").exists(), message="the run completed")
    assert JobRun.objects.get(pk=started.pk).queue_wait_ms is not None  # measured at its first step request


def test_a_run_the_engine_cancels_is_cancelled_in_the_ledger(
    ledger_source,
    engine,  # noqa: F811
    tenant,
    make_event_log,
    wait_until,  # noqa: F811
):
    engine.start_dispatcher(app_urls=[f"{engine.url}{SLEEPER_PATH}"])
    event_log = make_event_log(tenant=tenant)
    _send(engine, event_log)
    wait_until(
        lambda: JobRun.objects.filter(event_id=event_log.event_id, step_attempts__step_id="long-nap").exists(),
        message="the run asleep",
    )
    run = JobRun.objects.get(event_id=event_log.event_id)

    # Inngest's REST API, as a cancel-on, a timeout or another client cancels: the app asks nothing.
    response = httpx.delete(f"{engine.url}/v1/runs/{run.run_id}", timeout=10)

    assert response.status_code == 200, response.text
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None


@pytest.fixture
def web_ledger_statements():
    """Statements on the ledger's tables (jobs_jobrun, jobs_stepattempt) made by the live server's request threads:
    not the dispatcher's (`engine-*` threads) nor the test's own reads."""
    counted: Counter[str] = Counter()

    def count(execute, sql, params, many, context):
        thread = threading.current_thread().name
        if ("jobs_jobrun" in sql or "jobs_stepattempt" in sql) and not thread.startswith(("engine", "MainThread")):
            counted[sql.split()[0].upper()] += 1
        return execute(sql, params, many, context)

    def wrap(sender, connection, **kwargs) -> None:
        if count not in connection.execute_wrappers:
            connection.execute_wrappers.append(count)

    connection_created.connect(wrap, weak=False)
    yield counted
    connection_created.disconnect(wrap)


@pytest.mark.parametrize(("ledger_source", "expected"), [("engine", 1), ("sdk", 5)], indirect=["ledger_source"])
def test_the_web_side_writes_one_statement_per_step_request_or_none_when_the_engine_keeps_the_ledger(
    ledger_source,
    expected,
    engine,  # noqa: F811
    wait_until,  # noqa: F811
    web_ledger_statements,
):
    engine.start_dispatcher(app_urls=[f"{engine.url}{BENCH_PATH}"])

    engine.send("bench/ledger.three", {})

    # Three no-op steps and the function's return: four step requests.
    wait_until(
        lambda: (
            JobRun.objects.filter(function_id="ledger-bench-three", status="completed").exists()
            and Run.objects.filter(function__slug__endswith="ledger-bench-three", status="completed").exists()
        ),
        message="the run completed, in the ledger and in the engine",
    )
    # engine: the run's row, written by event intake (a request of the web server too); the step requests none.
    # sdk: the run's row on its first request, then one statement per request (before: 14 here, a SELECT of the
    # run, an upsert and an UPDATE per request, and the run's event log row, INSERT and SELECT on the first).
    assert sum(web_ledger_statements.values()) == expected, web_ledger_statements


def test_a_rerun_is_a_new_run_in_the_ledger_from_its_start(
    ledger_source,
    engine,  # noqa: F811
    tenant,
    make_event_log,
    wait_until,  # noqa: F811
    settings,
):
    from jobs.rerun import run_rerun_request

    assert ledger_source == "engine"
    settings.INNGEST_BASE_URL = engine.url
    dispatcher = engine.start_dispatcher(app_urls=[f"{engine.url}{SERVE_PATH}"])
    event_log = make_event_log(tenant=tenant)
    _send(engine, event_log)
    wait_until(
        lambda: JobRun.objects.filter(function_id="ops-ledger-doomed", status="failed").exists(),
        message="the doomed run failed",
    )
    failed = JobRun.objects.get(function_id="ops-ledger-doomed")
    dispatcher.stop(timeout=10)  # nothing runs the rerun: what the ledger has is what intake wrote
    engine.dispatchers.remove(dispatcher)

    new_run_id = run_rerun_request(run_id=failed.run_id)  # the admin's replay asks the server this (jobs/replay.py)

    rerun = JobRun.objects.get(run_id=new_run_id)
    assert (rerun.function_id, rerun.status, rerun.tenant_id, rerun.event_log_id) == (
        "ops-ledger-doomed",
        "running",
        tenant.id,
        event_log.id,
    )
