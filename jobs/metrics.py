"""`/metrics` for Prometheus (prometheus-client): counters of what happened, gauges of what is, never a history scan.

- Counters (runs started, status transitions, retries, events by status) and histograms (step duration, queue
  wait) are counted by PostgreSQL triggers as rows are written (migration 0007): each writing statement appends
  a delta row, and each scrape first rolls the deltas into the totals (`counters_roll_up`). The numbers are the
  same whichever web worker answers, with no shared multiprocess directory, and a run's later status change adds
  a transition instead of moving a series down.
- Gauges of current state read only unfinished runs (a partial index) and unsent events: queue depth and the age
  of the oldest item, per function (or event name) and tenant.
- Where the local engine runs, its queue too: ready, scheduled and in-flight items per function and the oldest
  age of each, in one query of the engine's (reached through the app registry: the app never imports the engine).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from .models import EventLog, JobRun, MetricCounter
from .tracking import inngest_app_id, local_function_id

# Histogram buckets (seconds); the triggers of migration 0007 use the same list.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
UNFINISHED = (JobRun.Status.RUNNING, JobRun.Status.RETRYING)

COUNTERS = {
    # stored name: (exposed name, help, label names)
    "job_runs_started": ("nurturehub_job_runs_started", "Runs started, by function", ["function"]),
    "job_transitions": (
        "nurturehub_job_transitions",
        "Runs that entered a status (a retried run enters retrying, then running again)",
        ["function", "status"],
    ),
    "job_retries": ("nurturehub_job_retries", "Failed step attempts that were retried", ["function"]),
    "events": ("nurturehub_events", "Events that entered a status (pending, sent, rejected)", ["name", "status"]),
}
HISTOGRAMS = {
    "step_duration_seconds": ("nurturehub_step_duration_seconds", "Duration of each step attempt"),
    "job_queue_wait_seconds": ("nurturehub_job_queue_wait_seconds", "From an event to its run's first request"),
}

ROLL_UP = """
WITH moved AS (DELETE FROM jobs_metricdelta RETURNING name, labels, value)
INSERT INTO jobs_metriccounter (name, labels, value)
SELECT name, labels, sum(value) FROM moved GROUP BY name, labels ORDER BY name, labels
ON CONFLICT (name, labels) DO UPDATE SET value = jobs_metriccounter.value + EXCLUDED.value
"""


def counters_roll_up() -> None:
    """Move the triggers' deltas into the totals: cost in proportion to what happened since the last scrape."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ROLL_UP)


def _label_values(labels: dict[str, str], names: list[str]) -> list[str]:
    return [str(labels.get(name, "")) for name in names]


class JobsCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        counters_roll_up()
        totals = list(MetricCounter.objects.values_list("name", "labels", "value"))
        yield from self._counters(totals)
        yield from self._histograms(totals)
        yield from self._current_state()
        yield from self._engine_queue()

    @staticmethod
    def _counters(totals: list[tuple[str, dict, float]]) -> Iterator[CounterMetricFamily]:
        families = {
            stored: CounterMetricFamily(name, help_text, labels=labels)
            for stored, (name, help_text, labels) in COUNTERS.items()
        }
        for stored, labels, value in sorted(totals, key=lambda row: (row[0], sorted(row[1].items()))):
            if stored in COUNTERS:
                families[stored].add_metric(_label_values(labels, COUNTERS[stored][2]), value)
        yield from families.values()

    @staticmethod
    def _histograms(totals: list[tuple[str, dict, float]]) -> Iterator[HistogramMetricFamily]:
        for stored, (name, help_text) in HISTOGRAMS.items():
            buckets: dict[str, dict[str, float]] = defaultdict(dict)
            sums: dict[str, float] = defaultdict(float)
            for row_name, labels, value in totals:
                if row_name == f"{stored}_bucket":
                    buckets[labels["function"]][labels["le"]] = value
                elif row_name == f"{stored}_sum":
                    sums[labels["function"]] += value
            family = HistogramMetricFamily(name, help_text, labels=["function"])
            for function in sorted(buckets):
                counts = buckets[function]
                cumulative, total = [], 0.0
                for bound in BUCKETS:
                    total += sum(v for le, v in counts.items() if le != "+Inf" and float(le) == bound)
                    cumulative.append((str(float(bound)), total))
                cumulative.append(("+Inf", total + counts.get("+Inf", 0.0)))
                family.add_metric([function], cumulative, sum_value=sums.get(function, 0.0))
            yield family

    @staticmethod
    def _current_state() -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        depth = GaugeMetricFamily(
            "nurturehub_job_runs_unfinished",
            "Runs started and not finished (running, sleeping or waiting to retry), per function and tenant",
            labels=["function", "tenant", "status"],
        )
        age = GaugeMetricFamily(
            "nurturehub_job_oldest_unfinished_age_seconds",
            "Age of the oldest unfinished run, per function and tenant",
            labels=["function", "tenant"],
        )
        oldest: dict[tuple[str, str], float] = {}
        rows = (
            JobRun.objects.filter(status__in=UNFINISHED)
            .values("function_id", "tenant__slug", "status")
            .annotate(n=Count("id"), first=Min("started_at"))
            .order_by("function_id", "tenant__slug", "status")
        )
        for row in rows:
            tenant = row["tenant__slug"] or ""
            depth.add_metric([row["function_id"], tenant, row["status"]], row["n"])
            key = (row["function_id"], tenant)
            oldest[key] = max(oldest.get(key, 0.0), (now - row["first"]).total_seconds())
        for (function, tenant), seconds in sorted(oldest.items()):
            age.add_metric([function, tenant], seconds)
        yield depth
        yield age

        pending = GaugeMetricFamily(
            "nurturehub_events_pending",
            "Events not yet accepted by Inngest (the outbox), per event name and tenant",
            labels=["name", "tenant"],
        )
        pending_age = GaugeMetricFamily(
            "nurturehub_events_pending_oldest_age_seconds",
            "Age of the oldest event waiting in the outbox, per event name and tenant",
            labels=["name", "tenant"],
        )
        for row in (
            EventLog.objects.filter(status=EventLog.Status.PENDING)
            .values("name", "tenant__slug")
            .annotate(n=Count("id"), first=Min("created_at"))
            .order_by("name", "tenant__slug")
        ):
            labels = [row["name"], row["tenant__slug"] or ""]
            pending.add_metric(labels, row["n"])
            pending_age.add_metric(labels, (now - row["first"]).total_seconds())
        yield pending
        yield pending_age

    @staticmethod
    def _engine_queue() -> Iterator[GaugeMetricFamily]:
        if not apps.is_installed("jobs.engine"):
            return  # on Inngest Cloud the queue is Inngest's: nothing to read here
        items = GaugeMetricFamily(
            "nurturehub_engine_queue_items",
            "The local engine's queue items per function and state (ready, scheduled, in_flight)",
            labels=["function", "state"],
        )
        age = GaugeMetricFamily(
            "nurturehub_engine_queue_oldest_age_seconds",
            "Age of the oldest queue item per function and state: ready and in_flight since it was due, "
            "scheduled since it was enqueued",
            labels=["function", "state"],
        )
        app_id = inngest_app_id()
        for row in apps.get_app_config("engine").queue_stats():
            labels = [local_function_id(app_id, row.function_slug), row.state]
            items.add_metric(labels, row.items)
            if row.oldest_age_seconds is not None:
                age.add_metric(labels, row.oldest_age_seconds)
        yield items
        yield age


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token and not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


urlpatterns = [path("metrics", metrics_view, name="metrics")]
