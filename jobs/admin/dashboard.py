"""The monitoring dashboard: runs per status and function, open failures, slowest functions, failing tenants."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from jobs.selectors import runs_dashboard

from .base import format_duration

HOURS = 24
BAR_WIDTH = 24


def context(model_admin: admin.ModelAdmin, request: HttpRequest) -> dict[str, Any]:
    summary = runs_dashboard(hours=HOURS)
    peak = max([bucket.runs for bucket in summary["hourly"]] + [1])
    bars = [
        {
            "x": index * BAR_WIDTH,
            "hour": bucket.hour,
            "runs": bucket.runs,
            "failures": bucket.failures,
            "runs_height": round(140 * bucket.runs / peak),
            "failures_height": round(140 * bucket.failures / peak),
            "runs_y": 150 - round(140 * bucket.runs / peak),
            "failures_y": 150 - round(140 * bucket.failures / peak),
        }
        for index, bucket in enumerate(summary["hourly"])
    ]
    changelist = reverse("admin:jobs_jobrun_changelist")
    failed_list = reverse("admin:jobs_failedjobrun_changelist")
    return {
        **model_admin.admin_site.each_context(request),
        "title": f"Job runs: the last {HOURS} hours",
        "opts": model_admin.opts,
        "summary": summary,
        "bars": bars,
        "chart_width": len(bars) * BAR_WIDTH + 30,  # room for the last hour's label
        "slowest": [
            {**row, "average": format_duration(row["avg_duration"].total_seconds() if row["avg_duration"] else None)}
            for row in summary["slowest"]
        ],
        "failed_url": failed_list,  # the open failures, whatever their age
        "all_failed_url": f"{failed_list}?{urlencode({'within': '24h', 'failure': 'all'})}",
        "changelist": changelist,
        "status_cards": [
            (status, count, f"{changelist}?{urlencode({'status__exact': status, 'within': '24h'})}")
            for status, count in summary["by_status"].items()
        ],
        "live": True,
    }
