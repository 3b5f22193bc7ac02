"""Run tracking with the local engine as the Inngest server: what `make run` shows in the admin."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.utils import timezone

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
