"""Run tracking as an operator sees it (JobRun and StepAttempt rows): completed, retried and failed runs, pauses,
redelivery. Every run is the local engine's, through the real serve endpoint (the `tracked` fixture), and every test
runs with each of the ledger's writers: the engine's own records, and the SDK middleware as on Inngest Cloud."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from ulid import ULID

from jobs.engine import dispatcher as dispatcher_module
from jobs.engine.models import Function, QueueItem
from jobs.models import EventLog, JobRun, StepAttempt
from tenants.services import contact_assign_category
from tests.conftest import LEDGER_SOURCES
from tests.ops.functions import ATTEMPTS_SEEN, SERVE_PATH
from tests.waiting import wait_for

pytestmark = [pytest.mark.urls("tests.ops.urls"), pytest.mark.django_db(transaction=True)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test whose runs are tracked runs with each ledger writer (`tracked` takes `ledger_source`)."""
    if "ledger_source" in metafunc.fixturenames:
        metafunc.parametrize("ledger_source", LEDGER_SOURCES, indirect=True)


FUNCTION = "contact-category-assigned"
MAX_ATTEMPTS = 4  # the routing policy's default


@pytest.fixture
def assigned(tenant, make_contact, event_api):
    """A real category assignment: its EventLog row and the event as Inngest would be sent it."""
    contact = make_contact(tenant=tenant)
    contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller")
    row = EventLog.objects.get(name="contact/category.assigned")
    return row, {"name": row.name, "data": row.payload, "id": row.event_id}


def attempts_of(run: JobRun) -> list[tuple[str, int, str]]:
    return [(a.step_id, a.attempt, a.status) for a in run.step_attempts.order_by("started_at", "id")]


def test_completed_run_is_recorded_with_its_event_and_steps(tracked, assigned, tenant):
    row, event = assigned

    ran = tracked.run(FUNCTION, event)

    assert ran.status == "completed"
    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.COMPLETED
    assert run.function_id == FUNCTION
    assert run.tenant_id == tenant.id
    assert run.event_log_id == row.id and run.event_id == row.event_id
    assert run.output == ran.output and "sequenceGenerateEventId" in run.output
    assert run.finished_at is not None and run.attempts == 0
    assert run.queue_wait_ms is not None
    assert ran.steps[:1] == ["resolve-tenant-context"] and "emit-sequence-generate" in ran.steps
    assert attempts_of(run) == [(step, 1, "completed") for step in [*ran.steps, "(function)"]]


def test_retried_step_records_each_attempt_and_the_delay_before_the_next(tracked, assigned, event_api):
    _, event = assigned
    event_api.fail_with, event_api.fail_times = 503, 1  # Inngest is unavailable once: the emit step is retried

    ran = tracked.run(FUNCTION, event)

    assert [(f.attempt, f.final) for f in ran.failures] == [(0, False)]  # the engine retried it, once
    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.COMPLETED
    assert run.attempts == 1
    failed = run.step_attempts.get(step_id="emit-sequence-generate", attempt=1)
    assert failed.status == StepAttempt.Status.FAILED
    assert "not accepted by Inngest" in failed.error and "Traceback" in failed.traceback
    assert failed.next_retry_at is not None and failed.next_retry_at > failed.started_at
    assert run.step_attempts.get(step_id="emit-sequence-generate", attempt=2).status == StepAttempt.Status.COMPLETED


def test_run_that_exhausts_its_retries_is_failed_by_the_on_failure_recorder(tracked, assigned, event_api):
    _, event = assigned
    event_api.fail_with = 503  # never accepted

    ran = tracked.run(FUNCTION, event)

    assert ran.status == "failed" and len(ran.failures) == MAX_ATTEMPTS
    assert ran.failure_run is not None and ran.failure_run.status == "completed"  # the on_failure recorder ran
    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.FAILED
    # The cause, not the policy's wrapper (RetryAfterError on every attempt), so the error filter separates causes.
    assert run.error_type == "TransientJobError"
    assert "not accepted by Inngest" in run.error["message"]
    assert "stack" in run.error  # the server's error, as the on_failure recorder stores it
    assert run.step_attempts.filter(error__startswith="TransientJobError: ").count() == MAX_ATTEMPTS
    assert run.attempts == MAX_ATTEMPTS - 1
    statuses = [s for step, _, s in attempts_of(run) if step == "emit-sequence-generate"]
    assert statuses == ["failed", "failed", "failed", "exhausted"]
    assert JobRun.objects.count() == 1  # the failure handler's own run is not tracked as a job run


def test_on_failure_alone_records_a_run_no_request_of_which_reached_the_app(
    tracked, assigned, tenant, monkeypatch, ledger_source
):
    """The failure event alone is enough to show the failed run: here the function's worker is unreachable (its
    step URL a closed port, as a crashed worker's), so the SDK never saw the run; the engine fails it after its
    retries and its `-failure` handler, still served, records it."""
    monkeypatch.setattr(dispatcher_module, "RESYNC_SECONDS", 10**6)  # no re-sync puts the live URL back meanwhile
    row, event = assigned
    function = Function.objects.get(slug=f"{settings.INNGEST_APP_ID}-{FUNCTION}")
    function.step_url = function.step_url.replace(tracked.base_url, dead_port_url())
    function.save(update_fields=["step_url"])

    ran = tracked.run(FUNCTION, event)

    assert ran.status == "failed" and len(ran.failures) == MAX_ATTEMPTS
    assert ran.failure_run is not None and ran.failure_run.status == "completed"
    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.FAILED and "could not be reached" in run.error["message"]
    assert (run.tenant_id, run.function_id, run.event_log_id) == (tenant.id, FUNCTION, row.id)
    if ledger_source == "sdk":  # no request reached the SDK: all its ledger has is the failure event
        assert not run.step_attempts.exists()
    else:  # the engine's ledger also has each delivery that failed, and why
        expected = [("(function)", n, "failed") for n in range(1, MAX_ATTEMPTS)] + [("(function)", 4, "exhausted")]
        assert attempts_of(run) == expected
        assert all("could not be reached" in attempt.error for attempt in run.step_attempts.all())


def test_non_retriable_error_fails_at_once(tracked, tenant):
    event = {"name": "contact/category.assigned", "data": {"tenantId": str(tenant.id), "contactId": "nope"}}

    ran = tracked.run(FUNCTION, event)

    assert ran.status == "failed"
    ((failure,),) = [ran.failures]
    assert failure.attempt == 0 and failure.no_retry  # failed on its first attempt with attempts left
    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.FAILED and run.error_type == "NonRetriableError"
    assert attempts_of(run) == [("(function)", 1, "exhausted")]


def test_a_step_request_the_engine_sends_again_does_not_duplicate_rows(tracked, engine, assigned, event_api):
    """The engine's own redelivery: a dispatcher stopped while the emit step is in flight hands its lease back
    (its shutdown grace over), and the next dispatcher sends the same request, the same attempt, again."""
    _, event = assigned
    event_api.hold = threading.Event()  # the emit step's send waits here, in flight, until the test opens it
    first = engine.dispatchers.pop()
    sent = tracked.send_later(event)

    wait_for(lambda: event_api.held == 1, message="the emit step in flight")
    assert first.shutdown(grace=0) == 1  # the step handed back, its request still in flight
    engine.start_dispatcher(app_urls=[settings.INNGEST_SERVE_URL])
    wait_for(lambda: event_api.held == 2, message="the same step request sent again")
    event_api.hold.set()
    (ran,) = sent()

    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.COMPLETED
    assert run.step_attempts.filter(step_id="emit-sequence-generate").count() == 1  # two executions, one row
    assert run.step_attempts.get(step_id="emit-sequence-generate").attempt == 1
    assert StepAttempt.objects.filter(run=run).count() == len(ran.steps) + 1  # one row per step, plus the return


def make_due(run_id: str) -> None:
    """The run's sleep made due now, as if its time had passed (the recheck period is set far away, so nothing else
    wakes it): once the engine has stored it."""
    far = timezone.now() + timedelta(hours=1)
    sleeping = QueueItem.objects.filter(run__run_id=run_id, available_at__gt=far)
    wait_for(sleeping.exists, message="the engine to store the sleep")
    assert sleeping.update(available_at=timezone.now()) == 1


def sleeps_of(run_id: str) -> list[str]:
    return list(
        StepAttempt.objects.filter(run__run_id=run_id, step_name="sleep")
        .order_by("step_id")
        .values_list("step_id", flat=True)
    )


def test_paused_tenant_sleeps_instead_of_working_until_resumed(tracked, assigned, tenant, settings):
    settings.JOBS_PAUSE_RECHECK_SECONDS = 10**7  # each sleep lasts until the test makes it due
    _, event = assigned
    tenant.jobs_paused = True
    tenant.save(update_fields=["jobs_paused"])
    sent = tracked.send_later(event)

    wait_for(lambda: JobRun.objects.filter(event_id=event["id"]).exists(), message="the run to start")
    run_id = JobRun.objects.get(event_id=event["id"]).run_id
    wait_for(lambda: sleeps_of(run_id) == ["tenant-paused-0"], message="the first sleep")
    assert not StepAttempt.objects.filter(run__run_id=run_id, step_name="step.run").exists()  # no work done
    make_due(run_id)
    wait_for(lambda: sleeps_of(run_id) == ["tenant-paused-0", "tenant-paused-1"], message="the second sleep")
    tenant.jobs_paused = False
    tenant.save(update_fields=["jobs_paused"])
    make_due(run_id)
    (ran,) = sent()

    assert ran.steps[:1] == ["resolve-tenant-context"]
    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.COMPLETED
    sleeps = run.step_attempts.filter(step_name="sleep").order_by("step_id")
    assert [s.step_id for s in sleeps] == ["tenant-paused-0", "tenant-paused-1"]
    assert all(s.next_retry_at is not None for s in sleeps)


def test_paused_too_long_fails_with_tenant_paused(tracked, assigned, tenant, settings):
    settings.JOBS_PAUSE_MAX_WAITS = 2
    _, event = assigned
    tenant.jobs_paused = True
    tenant.save(update_fields=["jobs_paused"])

    ran = tracked.run(FUNCTION, event)

    assert ran.status == "failed"
    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.FAILED and run.error_type == "TenantPaused"
    assert sleeps_of(ran.run_id) == ["tenant-paused-0", "tenant-paused-1"]


@pytest.mark.parametrize("tracked_serve_path", [SERVE_PATH])
def test_retry_after_inside_a_step_is_recorded_on_that_step_with_its_delay(tracked, tenant, ledger_source):
    ATTEMPTS_SEEN.clear()
    payload = {
        "tenantId": str(tenant.id),
        "contactId": "00000000-0000-4000-8000-000000000001",
        "category": "seller",
        "assignmentId": 1,
        "source": "api",
        "assignedAt": "2026-01-01T00:00:00Z",
    }

    ran = tracked.run("ops-test-rate-limited", {"name": "contact/category.assigned", "data": payload})

    assert ran.status == "completed" and ATTEMPTS_SEEN == [0, 1]
    ((failure,),) = [ran.failures]  # RetryAfterError is a function-level error for the server
    assert failure.attempt == 0 and not failure.final and round(failure.retry_after_seconds) == 42
    run = JobRun.objects.get(run_id=ran.run_id)
    waited = run.step_attempts.get(step_id="push-contact", attempt=1)
    assert waited.status == StepAttempt.Status.FAILED and "slow down" in waited.error
    delay = (waited.next_retry_at - waited.started_at).total_seconds()
    if ledger_source == "engine":  # when the engine really retries: after the attempt, its delay compressed
        delay = (delay - waited.duration_ms / 1000) / float(settings.ENGINE_DELAY_SCALE)
    assert 40 <= delay <= 45  # the step's own Retry-After, not Inngest's default table
    assert run.step_attempts.get(step_id="push-contact", attempt=2).status == StepAttempt.Status.COMPLETED
    assert (run.status, run.attempts) == ("completed", 1)


def test_a_late_completion_does_not_undo_a_cancellation(tenant):
    from jobs.tracking import run_mark

    run = JobRun.objects.create(
        run_id=str(ULID()),
        function_id=FUNCTION,
        tenant=tenant,
        status=JobRun.Status.CANCELLED,
        started_at=timezone.now(),
    )
    run_mark(run, status=JobRun.Status.COMPLETED, output={"late": True})
    run.refresh_from_db()
    assert (run.status, run.output) == (JobRun.Status.CANCELLED, None)
    run_mark(run, status=JobRun.Status.RUNNING)
    run.refresh_from_db()
    assert run.status == JobRun.Status.CANCELLED


def dead_port_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"
