"""`/metrics`: Prometheus text with runs by function and status, retries, queue wait and events."""

from __future__ import annotations

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs.models import EventLog, JobRun

pytestmark = pytest.mark.django_db


def samples(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_count_runs_retries_queue_wait_and_events(client, tenant, make_run, make_event_log):
    make_run(tenant=tenant)  # failed, 1 retry
    make_run(tenant=tenant, status=JobRun.Status.COMPLETED)
    JobRun.objects.update(queue_wait_ms=1500, started_at=timezone.now())
    make_event_log(tenant=tenant)
    EventLog.objects.create(name="contact/category.assigned", status=EventLog.Status.REJECTED, payload={})

    found = samples(client)

    fn = "contact-category-assigned"
    assert found[("nurturehub_job_runs_total", (("function", fn), ("status", "failed")))] == 1
    assert found[("nurturehub_job_runs_total", (("function", fn), ("status", "completed")))] == 1
    assert found[("nurturehub_job_retries_total", (("function", fn),))] == 1
    assert found[("nurturehub_job_queue_wait_seconds", (("tenant", tenant.slug),))] == 1.5
    events = "contact/category.assigned"
    assert found[("nurturehub_events_total", (("name", events), ("status", "sent")))] == 1
    assert found[("nurturehub_events_total", (("name", events), ("status", "rejected")))] == 1


def test_metrics_token_when_configured(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert samples(client, HTTP_AUTHORIZATION="Bearer scrape-me") == {}
