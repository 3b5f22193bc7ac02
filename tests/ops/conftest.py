from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from ulid import ULID

from jobs.models import EventLog, JobRun, StepAttempt
from tests.engine.conftest import engine, engine_settings, recorder  # noqa: F401 - the engine harness
from tests.ops.otlp_receiver import receiver  # noqa: F401 - the OTLP receiver fixture (test_traces*.py)
from tests.pipeline.engine_pipeline import EnginePipeline


@pytest.fixture
def tracked_serve_path() -> str:
    """The serve endpoint `tracked` syncs: the app's (a test parametrizes it to sync tests/ops/functions.py's)."""
    return "/api/inngest"


@pytest.fixture
def tracked(engine, event_api, live_server, tracked_serve_path, ledger_source) -> EnginePipeline:  # noqa: F811
    """The one setup of the run-tracking tests: the local engine runs the app's functions through the real serve
    endpoint (its dispatcher in threads, retry delays compressed), events go in through the engine's intake, and
    what the functions emit waits in the fake event API. Tests read what an operator sees (JobRun and StepAttempt
    rows, the admin), not which code wrote them; the ledger's writer is `ledger_source` (the engine by default; a
    module parametrizes it over both, as test_run_tracking.py does).
    Modules using it serve `tests.ops.urls` (the app, the engine's endpoints, the ops test functions)."""
    engine.start_dispatcher(app_urls=[f"{live_server.url}{tracked_serve_path}"])
    return EnginePipeline(live_server.url, event_api)


@pytest.fixture
def gone_tenant_event() -> dict:
    """A `contact/category.assigned` for an agency that does not exist: the run's first step fails, not retried."""
    return {
        "name": "contact/category.assigned",
        "id": str(ULID()),
        "data": {
            "tenantId": str(uuid.uuid4()),
            "contactId": str(uuid.uuid4()),
            "category": "seller",
            "assignmentId": 1,
            "source": "api",
            "assignedAt": timezone.now().isoformat(),
        },
    }


@pytest.fixture
def make_event_log(db):
    """Builder: a sent `contact/category.assigned` EventLog row with a valid payload."""

    def make(*, tenant, contact_id=None, **fields):
        payload = {
            "tenantId": str(tenant.id),
            "contactId": str(contact_id or uuid.uuid4()),
            "category": "seller",
            "previousCategory": None,
            "assignmentId": 1,
            "assignedBy": None,
            "source": "api",
            "assignedAt": timezone.now().isoformat(),
        }
        defaults = {"event_id": str(uuid.uuid4()), "source": "api", "status": EventLog.Status.SENT}
        return EventLog.objects.create(
            name="contact/category.assigned", tenant=tenant, payload=payload, **{**defaults, **fields}
        )

    return make


@pytest.fixture
def make_run(db):
    """Builder: a JobRun for an EventLog row, with one failed and one exhausted step attempt when failed."""

    def make(*, event_log=None, tenant=None, status=JobRun.Status.FAILED, function_id="contact-category-assigned"):
        now = timezone.now()
        run = JobRun.objects.create(
            run_id=str(ULID()),
            function_id=function_id,
            tenant=tenant or (event_log.tenant if event_log else None),
            event_name=event_log.name if event_log else "contact/category.assigned",
            event_id=event_log.event_id if event_log else "",
            event_log=event_log,
            status=status,
            attempts=1 if status == JobRun.Status.FAILED else 0,
            error={"name": "CrmAuthError", "message": "CrmAuthError: 401 from Street"}
            if status == JobRun.Status.FAILED
            else None,
            error_type="CrmAuthError" if status == JobRun.Status.FAILED else "",
            started_at=now - timedelta(seconds=30),
            finished_at=now if status != JobRun.Status.RUNNING else None,
        )
        if status == JobRun.Status.FAILED:
            StepAttempt.objects.create(
                run=run,
                step_id="push-contact",
                step_name="step.run",
                attempt=1,
                status=StepAttempt.Status.FAILED,
                duration_ms=120,
                error="CrmTransientError: 503 from Street",
                traceback="Traceback (most recent call last):\n  ...\nCrmTransientError: 503",
                next_retry_at=now - timedelta(seconds=15),
                started_at=now - timedelta(seconds=30),
            )
            StepAttempt.objects.create(
                run=run,
                step_id="push-contact",
                step_name="step.run",
                attempt=2,
                status=StepAttempt.Status.EXHAUSTED,
                duration_ms=80,
                error="CrmAuthError: 401 from Street",
                started_at=now - timedelta(seconds=10),
            )
        return run

    return make


@pytest.fixture
def staff_user(make_user):
    """A staff member who may look at runs and events but not replay them."""
    user = make_user(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_jobrun", "view_eventlog", "view_stepattempt", "view_tenant"])
    )
    return user


@pytest.fixture
def operator(staff_user):
    """A staff member who may also replay."""
    staff_user.user_permissions.add(Permission.objects.get(codename="replay_jobrun"))
    return staff_user
