"""Run tracking with the local engine as the Inngest server: a step that fails for good, and the run page's
timeline read from the engine's trace. (Completed, retried and exhausted runs: test_run_tracking.py.)"""

from __future__ import annotations

import pytest

from jobs.admin.timeline import run_timeline
from jobs.models import JobRun

pytestmark = [pytest.mark.urls("tests.ops.urls"), pytest.mark.django_db(transaction=True)]

FUNCTION = "contact-category-assigned"


def test_a_failed_run_through_the_engine_is_confirmed_by_on_failure(tracked, gone_tenant_event):
    ran = tracked.run(FUNCTION, gone_tenant_event)

    assert ran.status == "failed" and ran.failure_run.status == "completed"
    run = JobRun.objects.get(run_id=ran.run_id)
    assert run.status == JobRun.Status.FAILED
    assert "stack" in run.error  # the server's error, from the on_failure call
    assert run.error_type == "NonRetriableError" and gone_tenant_event["data"]["tenantId"] in run.error["message"]
    assert run.step_attempts.get(step_id="resolve-tenant-context").status == "exhausted"


def test_the_run_pages_timeline_reads_the_engines_trace(tracked, gone_tenant_event):
    ran = tracked.run(FUNCTION, gone_tenant_event)

    entries = run_timeline(JobRun.objects.get(run_id=ran.run_id))

    attempts = [entry for entry in entries if entry.kind == "attempt"]
    # The engine's span: the SDK's answer as Inngest sees it (a NonRetriableError ends the function with a 500,
    # opcode FunctionError, no step) with its error body; the step is named from run tracking, which knows it.
    assert [entry.title for entry in attempts] == ["resolve-tenant-context, attempt 1"]
    assert (attempts[0].step, attempts[0].attempt) == ("resolve-tenant-context", 1)
    assert not attempts[0].error.startswith("NonRetriableError")  # the cause first, not the policy's wrapper
    gone = gone_tenant_event["data"]["tenantId"]
    assert attempts[0].status == "exhausted" and gone in attempts[0].error and attempts[0].traceback
    assert entries[-1].title == "Run failed"
