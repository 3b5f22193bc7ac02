"""Run traces to OpenTelemetry: spans posted over OTLP/HTTP to a real receiver, decoded and counted."""

from __future__ import annotations

import pytest
from django.utils import timezone
from ulid import ULID

from jobs import traces
from jobs.models import JobRun, StepAttempt
from jobs.tracking import run_ensure, run_mark, step_attempt_upsert
from tests.ops.otlp_receiver import flushed
from tests.ops.test_run_tracking import FUNCTION, assigned  # noqa: F401 - the real assignment
from tests.waiting import wait_for

pytestmark = [pytest.mark.urls("tests.ops.urls"), pytest.mark.django_db(transaction=True)]


def new_run(tenant) -> JobRun:
    return run_ensure(
        run_id=str(ULID()),
        function_id=FUNCTION,
        event_name="contact/category.assigned",
        event_id="",
        event_data={"tenantId": str(tenant.id)},
    )


def attempt(run: JobRun, step: str, number: int, status: str, error: str = "", stack: str = "") -> None:
    step_attempt_upsert(
        run=run,
        step_id=step,
        step_name="step.run",
        attempt=number,
        status=status,
        started_at=timezone.now(),
        duration_ms=12,
        error=error,
        stack=stack,
    )


def test_a_run_on_the_local_engine_is_one_trace_with_a_span_per_attempt(
    tracked,
    assigned,  # noqa: F811
    event_api,
    tenant,
    receiver,
):
    _, event = assigned
    event_api.fail_with, event_api.fail_times = 503, 1  # Inngest is unavailable once: the emit step is retried

    run_id = tracked.run(FUNCTION, event).run_id

    run = JobRun.objects.get(run_id=run_id)
    assert run.status == JobRun.Status.COMPLETED
    recorded = run.step_attempts.count()
    spans = flushed(receiver, run_id, recorded + 1)
    assert len(spans) == recorded + 1  # one per attempt in the ledger, and the run's own
    (root,) = [span for span in spans if not span.parent_span_id]
    assert root.name == FUNCTION and root.attributes["nurturehub.outcome"] == "completed"
    assert root.trace_id == f"{traces.trace_id_of(run_id):032x}"
    assert root.span_id == f"{traces.run_span_id_of(run_id):016x}"
    children = [span for span in spans if span is not root]
    assert {span.trace_id for span in children} == {root.trace_id}
    assert {span.parent_span_id for span in children} == {root.span_id}
    assert {(s.attributes["nurturehub.step"], s.attributes["nurturehub.attempt"]) for s in children} == {
        (a.step_id, a.attempt) for a in run.step_attempts.all()
    }
    for span in spans:
        assert span.attributes["nurturehub.function"] == FUNCTION
        assert span.attributes["nurturehub.tenant"] == str(tenant.id)
        assert span.service == "nurturehub"
    failed = next(s for s in children if s.attributes["nurturehub.outcome"] == StepAttempt.Status.FAILED)
    assert (failed.name, failed.attributes["nurturehub.attempt"]) == ("emit-sequence-generate", 1)
    assert failed.status_code == 2 and "not accepted by Inngest" in failed.status_message
    assert "not accepted by Inngest" in failed.attributes["nurturehub.error"]
    ((name, details),) = failed.events
    assert name == "exception" and "Traceback" in details["exception.stacktrace"]
    assert all(s.status_code == 0 for s in spans if s is not failed)
    assert set(receiver.paths) == {"/v1/traces"}


def test_retries_redeliveries_and_a_restart_stay_in_the_runs_one_trace(tenant, receiver):
    run = new_run(tenant)
    attempt(run, "call-ai", 1, StepAttempt.Status.FAILED, error="TimeoutError: provider slow", stack="Traceback ...")
    attempt(run, "call-ai", 1, StepAttempt.Status.FAILED, error="TimeoutError: provider slow")  # redelivered
    traces.flush()
    traces.reset()  # as a restarted process: a new provider, nothing kept in memory
    attempt(run, "call-ai", 2, StepAttempt.Status.COMPLETED)
    run_mark(run, status=JobRun.Status.COMPLETED, finished_at=timezone.now())

    spans = flushed(receiver, run.run_id, 4)

    assert len({span.trace_id for span in spans}) == 1
    first, again, second, root = sorted(
        spans, key=lambda s: (s.parent_span_id == "", s.attributes.get("nurturehub.attempt", 0))
    )
    assert first.span_id == again.span_id  # the redelivered attempt is the same span, not a second one
    assert second.span_id != first.span_id and second.attributes["nurturehub.outcome"] == "completed"
    assert root.parent_span_id == "" and {first.parent_span_id, second.parent_span_id} == {root.span_id}


def test_a_failed_run_is_a_failed_root_span_and_a_cancelled_one_is_cancelled(tenant, receiver):
    failed, cancelled = new_run(tenant), new_run(tenant)
    run_mark(failed, status=JobRun.Status.FAILED, error={"name": "CrmError", "message": "CRM said 502"})
    JobRun.objects.filter(pk=cancelled.pk).update(status=JobRun.Status.RUNNING)
    from jobs import cancel

    cancel.run_cancel_request = lambda *, run_id: None  # the server's side is not under test here
    cancel.jobrun_cancel(run=cancelled)

    (failed_span,) = flushed(receiver, failed.run_id, 1)
    (cancelled_span,) = flushed(receiver, cancelled.run_id, 1)
    assert failed_span.status_code == 2 and failed_span.attributes["nurturehub.error"] == "CRM said 502"
    assert cancelled_span.attributes["nurturehub.outcome"] == "cancelled" and cancelled_span.status_code == 0


def test_a_hanging_endpoint_never_holds_a_step_and_the_queue_stays_bounded(tenant, receiver, monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "120")
    traces.reset()
    receiver.hold = hold = __import__("threading").Event()
    run = new_run(tenant)
    for number in range(1, 9):  # a full batch: the export thread posts it, and the receiver holds the request
        attempt(run, "first", number, StepAttempt.Status.COMPLETED)
    wait_for(receiver.entered.is_set, message="the exporter's request reached the hanging receiver")

    for number in range(1, 201):  # meanwhile every ledger write returns, its span queued or dropped
        attempt(run, "later", number, StepAttempt.Status.FAILED, error="boom")

    assert not hold.is_set() and receiver.requests == 0  # all 200 were written while the export still hung
    assert run.step_attempts.count() == 208  # the ledger lost nothing
    hold.set()
    traces.flush()
    wait_for(lambda: receiver.requests >= 1, message="the held export answered")
    assert 8 <= len(receiver.of_run(run.run_id)) <= 8 + 64  # the first batch, then at most the bounded queue


def test_an_endpoint_that_is_down_fails_nothing(tenant, settings, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:9"  # discard port: nothing listens
    traces.reset()
    try:
        run = new_run(tenant)
        attempt(run, "call-ai", 1, StepAttempt.Status.FAILED, error="boom")
        run_mark(run, status=JobRun.Status.FAILED, error={"message": "boom"}, finished_at=timezone.now())
        assert JobRun.objects.get(pk=run.pk).status == JobRun.Status.FAILED
    finally:
        traces.reset()


def test_without_an_endpoint_nothing_is_built(tenant, settings):
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = ""
    traces.reset()
    attempt(new_run(tenant), "call-ai", 1, StepAttempt.Status.COMPLETED)
    assert traces._tracer is traces._OFF and traces._provider is None
