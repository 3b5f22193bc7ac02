"""Run tracking with the local engine as the Inngest server: what `make run` shows in the admin."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from jobs.admin.timeline import run_timeline
from jobs.engine.models import Run
from jobs.models import EventLog, JobRun
from tenants.services import contact_assign_category
from tests.engine.conftest import engine, engine_settings, recorder, wait_until  # noqa: F401 - the engine harness

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def test_a_completed_run_through_the_engine_is_tracked(engine, tenant, make_contact, wait_until):  # noqa: F811
    engine.start_dispatcher(app_urls=[settings.INNGEST_SERVE_URL])
    contact = make_contact(tenant=tenant)

    contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller")

    event = EventLog.objects.get(name="contact/category.assigned")
    wait_until(
        lambda: JobRun.objects.filter(event_id=event.event_id, status="completed").exists(), message="run tracked"
    )
    run = JobRun.objects.get(event_id=event.event_id)
    assert (run.function_id, run.tenant_id, run.event_log_id) == ("contact-category-assigned", tenant.id, event.id)
    assert run.step_attempts.filter(step_id="resolve-tenant-context", status="completed").exists()
    assert run.queue_wait_ms is not None


def test_a_failed_run_through_the_engine_is_confirmed_by_on_failure(engine, tenant, wait_until):  # noqa: F811
    engine.start_dispatcher(app_urls=[settings.INNGEST_SERVE_URL])
    gone = str(uuid.uuid4())  # a tenant that does not exist: the first step fails without retries
    event_id = engine.send(
        "contact/category.assigned",
        {
            "tenantId": gone,
            "contactId": str(uuid.uuid4()),
            "category": "seller",
            "assignmentId": 1,
            "source": "api",
            "assignedAt": timezone.now().isoformat(),
        },
    )

    def failure_recorded() -> bool:
        run = JobRun.objects.filter(status="failed").first()
        return run is not None and "stack" in (run.error or {})  # the server's error, from the on_failure call

    wait_until(failure_recorded, message="on_failure recorded the run")
    run = JobRun.objects.get(status="failed")
    assert run.error_type == "NonRetriableError" and gone in run.error["message"]
    assert run.step_attempts.get(step_id="resolve-tenant-context").status == "exhausted"
    assert event_id


def test_the_run_pages_timeline_reads_the_engines_trace(engine, tenant, wait_until):  # noqa: F811
    engine.start_dispatcher(app_urls=[settings.INNGEST_SERVE_URL])
    gone = str(uuid.uuid4())  # a tenant that does not exist: the first step fails without retries
    engine.send(
        "contact/category.assigned",
        {
            "tenantId": gone,
            "contactId": str(uuid.uuid4()),
            "category": "seller",
            "assignmentId": 1,
            "source": "api",
            "assignedAt": timezone.now().isoformat(),
        },
    )
    # Both sides done: the app's tracking marks the run failed before the engine applies (and traces) the answer.
    wait_until(
        lambda: JobRun.objects.filter(status="failed").exists() and Run.objects.filter(status="failed").exists(),
        message="the failed run, tracked and traced",
    )

    entries = run_timeline(JobRun.objects.get(status="failed"))

    attempts = [entry for entry in entries if entry.kind == "attempt"]
    # The engine's span: the SDK's answer as Inngest sees it (a NonRetriableError ends the function with a 500,
    # opcode FunctionError, no step) with its error body; the step is named from run tracking, which knows it.
    assert [entry.title for entry in attempts] == ["resolve-tenant-context, attempt 1"]
    assert (attempts[0].step, attempts[0].attempt) == ("resolve-tenant-context", 1)
    assert not attempts[0].error.startswith("NonRetriableError")  # the cause first, not the policy's wrapper
    assert attempts[0].status == "exhausted" and gone in attempts[0].error and attempts[0].traceback
    assert entries[-1].title == "Run failed"
