"""Run tracking through the real serve endpoint: completed, retried and failed runs, pauses, redelivery."""

from __future__ import annotations

import httpx
import pytest
from ulid import ULID

from jobs.models import EventLog, JobRun, StepAttempt
from tenants.services import contact_assign_category
from tests.ops.serve_driver import call_failure, drive_run, wire_event

pytestmark = pytest.mark.django_db(transaction=True)

FUNCTION = "contact-category-assigned"
MAX_ATTEMPTS = 4  # the routing policy's default


@pytest.fixture
def assigned(tenant, make_contact, event_api):
    """A real category assignment: its EventLog row and the event as Inngest would deliver it."""
    contact = make_contact(tenant=tenant)
    contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller")
    row = EventLog.objects.get(name="contact/category.assigned")
    return row, wire_event(row.name, row.payload, row.event_id)


def attempts_of(run: JobRun) -> list[tuple[str, int, str]]:
    return [(a.step_id, a.attempt, a.status) for a in run.step_attempts.order_by("started_at", "id")]


def test_completed_run_is_recorded_with_its_event_and_steps(live_server, assigned, tenant):
    row, event = assigned
    run_id = str(ULID())

    driven = drive_run(live_server.url, function_id=FUNCTION, event=event, run_id=run_id, max_attempts=MAX_ATTEMPTS)

    assert driven.status == "completed"
    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.COMPLETED
    assert run.function_id == FUNCTION
    assert run.tenant_id == tenant.id
    assert run.event_log_id == row.id and run.event_id == row.event_id
    assert run.output == driven.output and "sequenceGenerateEventId" in run.output
    assert run.finished_at is not None and run.attempts == 0
    assert run.queue_wait_ms is not None
    ran = [op["displayName"] for status, body in driven.responses if status == 206 for op in body]
    assert ran[:1] == ["resolve-tenant-context"] and "emit-sequence-generate" in ran
    assert attempts_of(run) == [(step, 1, "completed") for step in [*ran, "(function)"]]


def test_retried_step_records_each_attempt_and_the_delay_before_the_next(live_server, assigned, event_api):
    _, event = assigned
    run_id = str(ULID())
    event_api.fail_with = 503  # Inngest is unavailable once: the emit step fails and is retried

    def recover(status, body):
        if status == 500:  # the step's failure under the policy: a retry-after 500
            event_api.fail_with = None

    drive_run(
        live_server.url, function_id=FUNCTION, event=event, run_id=run_id, max_attempts=MAX_ATTEMPTS, between=recover
    )

    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.COMPLETED
    assert run.attempts == 1
    failed = run.step_attempts.get(step_id="emit-sequence-generate", attempt=1)
    assert failed.status == StepAttempt.Status.FAILED
    assert "not accepted by Inngest" in failed.error and "Traceback" in failed.traceback
    assert failed.next_retry_at is not None and failed.next_retry_at > failed.started_at
    assert run.step_attempts.get(step_id="emit-sequence-generate", attempt=2).status == StepAttempt.Status.COMPLETED


def test_run_that_exhausts_its_retries_is_failed_by_the_on_failure_recorder(live_server, assigned, event_api):
    _, event = assigned
    run_id = str(ULID())
    event_api.fail_with = 503  # never accepted

    driven = drive_run(live_server.url, function_id=FUNCTION, event=event, run_id=run_id, max_attempts=MAX_ATTEMPTS)

    assert driven.status == "failed"
    assert driven.failure_response[0] == 200
    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.FAILED
    # The cause, not the policy's wrapper (RetryAfterError on every attempt), so the error filter separates causes.
    assert run.error_type == "TransientJobError"
    assert "not accepted by Inngest" in run.error["message"]
    assert run.step_attempts.filter(error__startswith="TransientJobError: ").count() == MAX_ATTEMPTS
    assert run.attempts == MAX_ATTEMPTS - 1
    statuses = [s for step, _, s in attempts_of(run) if step == "emit-sequence-generate"]
    assert statuses == ["failed", "failed", "failed", "exhausted"]
    assert JobRun.objects.count() == 1  # the failure handler's own run is not tracked as a job run


def test_on_failure_alone_records_a_run_the_middleware_never_saw(live_server, tenant):
    """With any server, the failure event alone is enough to show the failed run (e.g. a crashed worker)."""
    run_id = str(ULID())
    original = wire_event("contact/category.assigned", {"tenantId": str(tenant.id)}, "evt-1")
    failure = wire_event(
        "inngest/function.failed",
        {
            "function_id": f"nurturehub-{FUNCTION}",
            "run_id": run_id,
            "event": original,
            "error": {"name": "TimeoutError", "message": "worker lost"},
        },
        run_id,
    )
    with httpx.Client() as http:
        status, _ = call_failure(http, live_server.url, f"nurturehub-{FUNCTION}", failure)

    assert status == 200
    run = JobRun.objects.get(run_id=run_id)
    assert (run.status, run.error_type) == ("failed", "TimeoutError")
    assert (run.tenant_id, run.function_id) == (tenant.id, FUNCTION)


def test_non_retriable_error_fails_at_once(live_server, tenant):
    run_id = str(ULID())
    event = wire_event("contact/category.assigned", {"tenantId": str(tenant.id), "contactId": "nope"}, "evt-bad")

    driven = drive_run(live_server.url, function_id=FUNCTION, event=event, run_id=run_id, max_attempts=MAX_ATTEMPTS)

    assert driven.status == "failed" and len(driven.responses) == 1
    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.FAILED and run.error_type == "NonRetriableError"
    assert attempts_of(run) == [("(function)", 1, "exhausted")]


def test_redelivered_requests_do_not_duplicate_rows(live_server, assigned):
    _, event = assigned
    run_id = str(ULID())

    driven = drive_run(
        live_server.url, function_id=FUNCTION, event=event, run_id=run_id, max_attempts=MAX_ATTEMPTS, redeliver=True
    )

    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.COMPLETED
    steps_run = sum(len(body) for status, body in driven.responses if status == 206)
    assert StepAttempt.objects.filter(run=run).count() == steps_run + 1  # one row per step, plus the return


def test_paused_tenant_sleeps_instead_of_working_until_resumed(live_server, assigned, tenant, settings):
    _, event = assigned
    run_id = str(ULID())
    tenant.jobs_paused = True
    tenant.save(update_fields=["jobs_paused"])
    seen = []

    def resume_after_two_sleeps(status, body):
        seen.append(body[0]["op"] if status == 206 else status)
        if seen.count("Sleep") == 2:
            tenant.jobs_paused = False
            tenant.save(update_fields=["jobs_paused"])

    drive_run(
        live_server.url,
        function_id=FUNCTION,
        event=event,
        run_id=run_id,
        max_attempts=MAX_ATTEMPTS,
        between=resume_after_two_sleeps,
    )

    assert seen[:3] == ["Sleep", "Sleep", "StepRun"]
    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.COMPLETED
    sleeps = run.step_attempts.filter(step_name="sleep").order_by("step_id")
    assert [s.step_id for s in sleeps] == ["tenant-paused-0", "tenant-paused-1"]
    assert all(s.next_retry_at is not None for s in sleeps)


def test_paused_too_long_fails_with_tenant_paused(live_server, assigned, tenant, settings):
    settings.JOBS_PAUSE_MAX_WAITS = 2
    _, event = assigned
    run_id = str(ULID())
    tenant.jobs_paused = True
    tenant.save(update_fields=["jobs_paused"])

    driven = drive_run(live_server.url, function_id=FUNCTION, event=event, run_id=run_id, max_attempts=MAX_ATTEMPTS)

    assert driven.status == "failed"
    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.FAILED and run.error_type == "TenantPaused"


@pytest.mark.urls("tests.ops.urls")
def test_retry_after_inside_a_step_is_recorded_on_that_step_with_its_delay(live_server, tenant):
    from tests.ops.functions import ATTEMPTS_SEEN, SERVE_PATH

    ATTEMPTS_SEEN.clear()
    run_id = str(ULID())
    payload = {
        "tenantId": str(tenant.id),
        "contactId": "00000000-0000-4000-8000-000000000001",
        "category": "seller",
        "assignmentId": 1,
        "source": "api",
        "assignedAt": "2026-01-01T00:00:00Z",
    }
    event = wire_event("contact/category.assigned", payload, "evt-ra")

    driven = drive_run(
        live_server.url,
        function_id="ops-test-rate-limited",
        event=event,
        run_id=run_id,
        max_attempts=6,
        serve_path=SERVE_PATH,
    )

    assert driven.status == "completed" and ATTEMPTS_SEEN == [0, 1]
    assert driven.responses[0][0] == 500  # RetryAfterError is a function-level error for the server
    run = JobRun.objects.get(run_id=run_id)
    waited = run.step_attempts.get(step_id="push-contact", attempt=1)
    assert waited.status == StepAttempt.Status.FAILED and "slow down" in waited.error
    delay = (waited.next_retry_at - waited.started_at).total_seconds()
    assert 40 <= delay <= 45  # the step's own Retry-After, not Inngest's default table
    assert run.step_attempts.get(step_id="push-contact", attempt=2).status == StepAttempt.Status.COMPLETED
    assert (run.status, run.attempts) == ("completed", 1)


def test_a_late_completion_does_not_undo_a_cancellation(tenant):
    from django.utils import timezone

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
