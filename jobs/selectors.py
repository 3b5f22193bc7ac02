"""Reads behind the monitoring admin and the metrics endpoint: aggregates over JobRun and EventLog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from .models import JobRun


@dataclass(frozen=True)
class HourBucket:
    hour: datetime
    runs: int
    failures: int


def _window(*, hours: int) -> datetime:
    return timezone.now() - timedelta(hours=hours)


def runs_dashboard(*, hours: int = 24, top: int = 10) -> dict[str, Any]:
    """Everything the overview page shows for the last `hours`: a handful of grouped queries, no row scans."""
    since = _window(hours=hours)
    recent = JobRun.objects.filter(started_at__gte=since)
    by_status = dict(recent.values_list("status").annotate(n=Count("id")).order_by())
    total = sum(by_status.values())
    failed = by_status.get(JobRun.Status.FAILED, 0)
    finished = failed + by_status.get(JobRun.Status.COMPLETED, 0)
    # The worklist, whatever the failures' age (the window is the charts'): its size and its oldest failure.
    open_list = JobRun.objects.failures_open()
    open_failures = open_list.count()
    oldest_open = open_list.order_by("started_at").only("pk", "run_id", "function_id", "started_at").first()

    by_function: dict[str, dict[str, int]] = {}
    for function_id, status, count in recent.values_list("function_id", "status").annotate(n=Count("id")).order_by():
        by_function.setdefault(function_id, {})[status] = count
    functions = [
        {
            "function_id": function_id,
            "total": sum(counts.values()),
            "failed": counts.get(JobRun.Status.FAILED, 0),
            **{status: counts.get(status, 0) for status in JobRun.Status.values},
        }
        for function_id, counts in sorted(by_function.items())
    ]

    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    slowest = list(
        recent.filter(status=JobRun.Status.COMPLETED, finished_at__isnull=False)
        .values("function_id")
        .annotate(avg_duration=Avg(duration), runs=Count("id"))
        .order_by("-avg_duration")[:top]
    )
    failing_tenants = list(
        open_list.filter(tenant__isnull=False)
        .values("tenant_id", "tenant__name", "tenant__jobs_paused")
        .annotate(failures=Count("id"))
        .order_by("-failures")[:top]
    )
    hourly = {
        row["hour"]: row
        for row in recent.annotate(hour=TruncHour("started_at"))
        .values("hour")
        .annotate(runs=Count("id"), failures=Count("id", filter=Q(status=JobRun.Status.FAILED)))
        .order_by()
    }
    start = since.replace(minute=0, second=0, microsecond=0)
    buckets = []
    for index in range(hours + 1):
        hour = start + timedelta(hours=index)
        row = hourly.get(hour, {})
        buckets.append(HourBucket(hour=hour, runs=row.get("runs", 0), failures=row.get("failures", 0)))
    return {
        "hours": hours,
        "since": since,
        "total": total,
        "by_status": {status: by_status.get(status, 0) for status in JobRun.Status.values},
        "failure_rate": (failed / finished) if finished else 0.0,
        "open_failures": open_failures,
        "oldest_open_failure": oldest_open,
        # The rate is the window's: its own open failures over its finished runs.
        "open_failure_rate": (recent.failures_open().count() / finished) if finished and failed else 0.0,
        "functions": functions,
        "slowest": slowest,
        "failing_tenants": failing_tenants,
        "hourly": buckets,
    }
