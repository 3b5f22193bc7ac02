"""Run traces with the local engine as the Inngest server: a failed run is one trace with its error."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from jobs import traces
from jobs.models import JobRun
from tests.engine.conftest import engine, engine_settings, recorder, wait_until  # noqa: F401 - the engine harness
from tests.ops.otlp_receiver import flushed

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def test_a_failed_run_on_the_local_engine_is_one_trace_whose_step_span_carries_the_error(
    engine,  # noqa: F811
    wait_until,  # noqa: F811
    receiver,
):
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
    wait_until(lambda: JobRun.objects.filter(status="failed").exists(), message="the failed run, tracked")
    run = JobRun.objects.get(status="failed")

    spans = flushed(receiver, run.run_id, 2)

    assert len(spans) == 2
    step = next(span for span in spans if span.parent_span_id)
    root = next(span for span in spans if not span.parent_span_id)
    assert step.trace_id == root.trace_id == f"{traces.trace_id_of(run.run_id):032x}"
    assert step.parent_span_id == root.span_id
    assert (step.name, step.attributes["nurturehub.attempt"], step.attributes["nurturehub.outcome"]) == (
        "resolve-tenant-context",
        1,
        "exhausted",
    )
    assert step.status_code == 2 and gone in step.attributes["nurturehub.error"]
    assert (root.name, root.attributes["nurturehub.outcome"], root.status_code) == (
        "contact-category-assigned",
        "failed",
        2,
    )
