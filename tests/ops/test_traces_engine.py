"""Run traces with the local engine as the Inngest server: a failed run is one trace with its error."""

from __future__ import annotations

import pytest

from jobs import traces
from jobs.models import JobRun
from tests.ops.otlp_receiver import flushed

pytestmark = [pytest.mark.urls("tests.ops.urls"), pytest.mark.django_db(transaction=True)]


def test_a_failed_run_on_the_local_engine_is_one_trace_whose_step_span_carries_the_error(
    tracked, gone_tenant_event, receiver
):
    run = JobRun.objects.get(run_id=tracked.run("contact-category-assigned", gone_tenant_event).run_id)

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
    assert step.status_code == 2 and gone_tenant_event["data"]["tenantId"] in step.attributes["nurturehub.error"]
    assert (root.name, root.attributes["nurturehub.outcome"], root.status_code) == (
        "contact-category-assigned",
        "failed",
        2,
    )
