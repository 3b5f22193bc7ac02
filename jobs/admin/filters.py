"""List filters of the runs and the event log: bounded lookups, never a DISTINCT over a million rows."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from jobs.models import JobRun


class FunctionFilter(admin.SimpleListFilter):
    """The registered functions (no DISTINCT scan over a million runs)."""

    title = "function"
    parameter_name = "function_id"

    def lookups(self, request, model_admin):
        from jobs.functions import ALL_FUNCTIONS

        return [(fn.local_id, fn.local_id) for fn in sorted(ALL_FUNCTIONS, key=lambda fn: fn.local_id)]

    def queryset(self, request, queryset):
        return queryset.filter(function_id=self.value()) if self.value() else queryset


class EventNameFilter(admin.SimpleListFilter):
    title = "event name"
    parameter_name = "event_name"

    def lookups(self, request, model_admin):
        from jobs.events import CATALOGUE

        return [(name, name) for name in sorted(CATALOGUE)]

    def queryset(self, request, queryset):
        return queryset.filter(event_name=self.value()) if self.value() else queryset


class ErrorTypeFilter(admin.SimpleListFilter):
    """Error types (the underlying causes) of the most recent failures: a bounded index scan."""

    title = "error type"
    parameter_name = "error_type"
    RECENT_FAILURES = 5000

    def lookups(self, request, model_admin):
        recent = (
            JobRun.objects.filter(status=JobRun.Status.FAILED)
            .order_by("-started_at")
            .values_list("error_type", flat=True)[: self.RECENT_FAILURES]
        )
        return [(name, name) for name in sorted(set(recent) - {""})][:50]

    def queryset(self, request, queryset):
        return queryset.filter(error_type=self.value()) if self.value() else queryset


class StartedWithinFilter(admin.SimpleListFilter):
    title = "time range"
    parameter_name = "within"
    field = "started_at__gte"
    RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}

    def lookups(self, request, model_admin):
        return [(key, f"last {key}") for key in self.RANGES]

    def queryset(self, request, queryset):
        window = self.RANGES.get(self.value() or "")
        return queryset.filter(**{self.field: timezone.now() - window}) if window else queryset


class CreatedWithinFilter(StartedWithinFilter):
    field = "created_at__gte"


class FailureStateFilter(admin.SimpleListFilter):
    """The worklist: open failures by default; replayed, resolved, dismissed or all on request."""

    title = "failure"
    parameter_name = "failure"
    DEFAULT = "open"

    def lookups(self, request, model_admin):
        return [
            ("open", "Open (no replay in flight or completed, not dismissed)"),
            ("replaying", "Replaying (a replay's run has not finished)"),
            ("resolved", "Resolved (a replay completed)"),
            ("dismissed", "Dismissed"),
            ("all", "All failures"),
        ]

    def value(self):
        return super().value() or self.DEFAULT

    def choices(self, changelist):
        # No "All" entry of Django's own: "all" is one of the lookups, "open" the default.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.failures_open()
        if value == "replaying":
            return queryset.replaying()
        if value == "resolved":
            return queryset.failures_resolved()
        if value == "dismissed":
            return queryset.filter(dismissed_at__isnull=False)
        return queryset
