"""`/metrics` for Prometheus (prometheus-client), read from the database at scrape time.

Counting from the JobRun/EventLog tables rather than in-process counters gives the same numbers whichever web
worker answers the scrape (gunicorn runs several), and needs no shared multiprocess directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, Count, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .models import EventLog, JobRun

QUEUE_WAIT_WINDOW = timedelta(hours=1)


class JobsCollector(Collector):
    """Runs by function and status, retries, queue wait per tenant (last hour) and events by name and status."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        runs = CounterMetricFamily(
            "nurturehub_job_runs", "Job runs recorded, by function and current status", labels=["function", "status"]
        )
        retries = CounterMetricFamily(
            "nurturehub_job_retries", "Failed attempts that were retried", labels=["function"]
        )
        retried: dict[str, int] = {}
        grouped = JobRun.objects.values("function_id", "status").annotate(n=Count("id"), r=Sum("attempts"))
        for row in grouped.order_by():
            runs.add_metric([row["function_id"], row["status"]], row["n"])
            retried[row["function_id"]] = retried.get(row["function_id"], 0) + (row["r"] or 0)
        for function_id, count in sorted(retried.items()):
            retries.add_metric([function_id], count)
        yield runs
        yield retries

        wait = GaugeMetricFamily(
            "nurturehub_job_queue_wait_seconds",
            "Average wait from event to first request, runs started in the last hour, per tenant",
            labels=["tenant"],
        )
        since = timezone.now() - QUEUE_WAIT_WINDOW
        for row in (
            JobRun.objects.filter(started_at__gte=since, queue_wait_ms__isnull=False, tenant__isnull=False)
            .values("tenant__slug")
            .annotate(avg=Avg("queue_wait_ms"))
            .order_by()
        ):
            wait.add_metric([row["tenant__slug"]], float(row["avg"]) / 1000)
        yield wait

        events = CounterMetricFamily(
            "nurturehub_events",
            "Events emitted, by name and status (sent, pending, rejected)",
            labels=["name", "status"],
        )
        for row in EventLog.objects.values("name", "status").annotate(n=Count("id")).order_by():
            events.add_metric([row["name"], row["status"]], row["n"])
        yield events


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token and not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


urlpatterns = [path("metrics", metrics_view, name="metrics")]
