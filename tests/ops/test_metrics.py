"""`/metrics`: counters of transitions, gauges of current state, step latency histograms; no history scan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs.models import EventLog, JobRun, StepAttempt
from jobs.tracking import run_mark

pytestmark = pytest.mark.django_db

FN = "contact-category-assigned"


def samples(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_a_status_change_adds_a_transition_and_never_moves_a_counter_down(client, tenant, make_run):
    run = make_run(tenant=tenant, status=JobRun.Status.RUNNING)
    before = samples(client)
    assert before[("nurturehub_job_transitions_total", (("function", FN), ("status", "running")))] == 1
    assert before[("nurturehub_job_runs_started_total", (("function", FN),))] == 1

    run_mark(run, status=JobRun.Status.RETRYING)
    run_mark(run, status=JobRun.Status.RUNNING)
    run_mark(run, status=JobRun.Status.COMPLETED, finished_at=timezone.now())
    run_mark(run, status=JobRun.Status.COMPLETED)  # no change: no transition
    after = samples(client)

    transitions = {
        status: after[("nurturehub_job_transitions_total", (("function", FN), ("status", status)))]
        for status in ("running", "retrying", "completed")
    }
    assert transitions == {"running": 2, "retrying": 1, "completed": 1}
    assert after[("nurturehub_job_runs_started_total", (("function", FN),))] == 1


def test_gauges_show_unfinished_runs_and_the_outbox_per_function_and_tenant(client, tenant, make_run, make_event_log):
    old = make_run(tenant=tenant, status=JobRun.Status.RUNNING)
    make_run(tenant=tenant, status=JobRun.Status.RETRYING)
    make_run(tenant=tenant, status=JobRun.Status.COMPLETED)
    JobRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(minutes=10))
    make_event_log(tenant=tenant, status=EventLog.Status.PENDING)

    found = samples(client)

    labels = (("function", FN), ("status", "running"), ("tenant", tenant.slug))
    assert found[("nurturehub_job_runs_unfinished", labels)] == 1
    assert found[("nurturehub_job_runs_unfinished", (*labels[:1], ("status", "retrying"), labels[2]))] == 1
    assert found[("nurturehub_job_oldest_unfinished_age_seconds", (("function", FN), ("tenant", tenant.slug)))] >= 600
    events = (("name", "contact/category.assigned"), ("tenant", tenant.slug))
    assert found[("nurturehub_events_pending", events)] == 1


def test_step_durations_are_a_histogram_and_failed_attempts_count_as_retries(client, tenant, make_run):
    make_run(tenant=tenant)  # attempts of 120 ms (failed, retried) and 80 ms (exhausted)
    run = make_run(tenant=tenant, status=JobRun.Status.COMPLETED)
    StepAttempt.objects.create(
        run=run, step_id="call-ai", attempt=1, status="completed", duration_ms=3000, started_at=timezone.now()
    )

    found = samples(client)

    def bucket(le):
        return found[("nurturehub_step_duration_seconds_bucket", (("function", FN), ("le", le)))]

    assert (bucket("0.05"), bucket("0.1"), bucket("0.25"), bucket("2.5"), bucket("5.0"), bucket("+Inf")) == (
        0,
        1,
        2,
        2,
        3,
        3,
    )
    assert found[("nurturehub_step_duration_seconds_count", (("function", FN),))] == 3
    assert found[("nurturehub_step_duration_seconds_sum", (("function", FN),))] == pytest.approx(3.2)
    assert found[("nurturehub_job_retries_total", (("function", FN),))] == 1


def test_events_count_each_status_they_enter(client, tenant, make_event_log):
    row = make_event_log(tenant=tenant, status=EventLog.Status.PENDING)
    EventLog.objects.create(name="contact/category.assigned", status=EventLog.Status.REJECTED, payload={})
    EventLog.objects.filter(pk=row.pk).update(status=EventLog.Status.SENT)

    found = samples(client)

    name = "contact/category.assigned"
    for status in ("pending", "sent", "rejected"):
        assert found[("nurturehub_events_total", (("name", name), ("status", status)))] == 1


def test_a_scrape_reads_no_run_history(client, tenant, make_run):
    for _ in range(3):
        make_run(tenant=tenant, status=JobRun.Status.COMPLETED)
    samples(client)  # roll up what the rows above added

    with CaptureQueriesContext(connection) as queries:
        samples(client)

    run_queries = [q["sql"] for q in queries if "jobs_jobrun" in q["sql"]]
    assert run_queries and all("IN ('running', 'retrying')" in sql.replace('"', "") for sql in run_queries), run_queries


def test_metrics_token_when_configured(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200
