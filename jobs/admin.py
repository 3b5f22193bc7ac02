"""The monitoring admin: event log, runs (and failed runs) with their step timeline, the dashboard, replays.

Everything here is read-only; the only writes are the replay actions, which need the `jobs.replay_jobrun`
permission, go through a confirmation page and re-emit through `jobs.emit` (see jobs/replay.py), and the cancel
actions, which need `jobs.cancel_jobrun` and ask the Inngest server to cancel the run (see jobs/cancel.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from .cancel import CancelError, jobrun_cancel
from .models import EventLog, FailedJobRun, JobRun, StepAttempt
from .replay import MAX_BULK_REPLAY, events_replay, replayable_events, runs_replay
from .selectors import runs_dashboard
from .tracking import TERMINAL

REPLAY_PERMISSION = "jobs.replay_jobrun"
CANCEL_PERMISSION = "jobs.cancel_jobrun"
MAX_BULK_CANCEL = 100  # one DELETE per run to the Inngest server, inside the admin request

# The admin index shows the dashboard link first (templates/admin/nurturehub_index.html).
admin.site.index_template = "admin/nurturehub_index.html"
admin.site.site_header = "NurtureHub operations"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Log tables are written by the system only; staff read them and act through admin actions."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)


def pretty_json(value: object) -> str:
    """The full value, pretty-printed and never truncated (operators need the whole payload)."""
    return format_html('<pre class="nh-json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, default=str))


def status_badge(status: str) -> str:
    return format_html('<span class="nh-status nh-status-{}">{}</span>', status, status)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


# --- filters ---------------------------------------------------------------------------------------------------


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
    """Error types of the most recent failures (a bounded index scan, not a DISTINCT over every failed run)."""

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


# --- replay confirmation ---------------------------------------------------------------------------------------


def _confirm_replay(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    title: str,
    runs_count: int | None,
    events: list[EventLog],
    skipped: list[str],
    hidden: dict[str, Any],
) -> TemplateResponse:
    names: dict[str, int] = {}
    for row in events:
        names[row.name] = names.get(row.name, 0) + 1
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "runs_count": runs_count,
        "events_count": len(events),
        "event_names": sorted(names.items()),
        "skipped": skipped[:50],
        "skipped_count": len(skipped),
        "hidden": hidden,
        "selected_ids": hidden.pop("_selected_ids", []),
        "too_many": len(events) > MAX_BULK_REPLAY,
        "max_bulk": MAX_BULK_REPLAY,
    }
    return TemplateResponse(request, "admin/jobs/replay_confirmation.html", context)


def _report_replay(model_admin: admin.ModelAdmin, request: HttpRequest, result: Any) -> None:
    if result.replayed:
        model_admin.message_user(
            request,
            f"Replayed {result.replayed} event(s) under new event ids; new runs will start "
            f"(first new id: {result.new_event_ids[0]}).",
            messages.SUCCESS,
        )
    if result.skipped:
        model_admin.message_user(
            request, f"Skipped {len(result.skipped)}: " + "; ".join(result.skipped[:5]), messages.WARNING
        )
    if not result.replayed and not result.skipped:
        model_admin.message_user(request, "Nothing to replay.", messages.INFO)


# --- event log -------------------------------------------------------------------------------------------------


@admin.register(EventLog)
class EventLogAdmin(ReadOnlyAdmin):
    list_display = ["name", "status_display", "tenant", "event_id", "source", "created_at", "sent_at"]
    list_filter = ["status", "name", CreatedWithinFilter, "tenant"]
    search_fields = ["=event_id", "name", "tenant__slug", "tenant__name"]
    search_help_text = (
        "An event id, a contact or tenant id (UUID), an event name, a tenant's name or slug; "
        'or "payload:" followed by any text in the payload.'
    )
    list_select_related = ["tenant"]
    show_full_result_count = False
    actions = ["replay_events"]
    fields = [
        "name",
        "status",
        "tenant",
        "event_id",
        "source",
        "created_at",
        "sent_at",
        "send_attempts",
        "last_error",
        "payload_pretty",
        "errors_pretty",
        "runs_triggered",
    ]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.startswith("payload:"):
            text = term.removeprefix("payload:").strip()
            return queryset.annotate(payload_text=Cast("payload", output_field=TextField())).filter(
                payload_text__icontains=text
            ), False
        try:
            as_uuid = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        # A UUID is a contact id (indexed payload->>'contactId') or a tenant id.
        return queryset.filter(payload__contactId=str(as_uuid)) | queryset.filter(tenant_id=as_uuid), False

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: EventLog) -> str:
        return status_badge(obj.status)

    @admin.display(description="Payload")
    def payload_pretty(self, obj: EventLog) -> str:
        return pretty_json(obj.payload)

    @admin.display(description="Validation errors")
    def errors_pretty(self, obj: EventLog) -> str:
        return pretty_json(obj.errors) if obj.errors else "-"

    @admin.display(description="Runs this event triggered")
    def runs_triggered(self, obj: EventLog) -> str:
        runs = list(JobRun.objects.filter(event_id=obj.event_id).order_by("started_at")[:100]) if obj.event_id else []
        if not runs:
            return "none recorded (yet)"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> {} {} - started {}</li>',
                (
                    (
                        reverse("admin:jobs_jobrun_change", args=[run.pk]),
                        run.run_id,
                        run.function_id,
                        status_badge(run.status),
                        run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                    )
                    for run in runs
                ),
            ),
        )

    @admin.action(description="Replay selected events (new event ids, new runs)", permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[EventLog]) -> HttpResponse | None:
        events = list(queryset.exclude(status=EventLog.Status.REJECTED)[: MAX_BULK_REPLAY + 1])
        skipped = [f"event {row.pk}: rejected, nothing to replay" for row in queryset.filter(status="rejected")[:50]]
        if request.POST.get("confirm") == "yes" and len(events) <= MAX_BULK_REPLAY:
            _report_replay(self, request, events_replay(events=events))
            return None
        return _confirm_replay(
            self,
            request,
            title="Replay events?",
            runs_count=None,
            events=events,
            skipped=skipped,
            hidden=_action_hidden(request, "replay_events"),
        )


def _action_hidden(request: HttpRequest, action: str) -> dict[str, Any]:
    """The POST fields that make Django run the same action again on the same selection, once confirmed."""
    return {
        "action": action,
        "select_across": request.POST.get("select_across", "0"),
        "index": request.POST.get("index", "0"),
        "_selected_ids": request.POST.getlist(ACTION_CHECKBOX_NAME),
    }


# --- runs ------------------------------------------------------------------------------------------------------


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = [
        "run_link",
        "function_id",
        "tenant",
        "status_display",
        "attempts",
        "error_type",
        "event_name",
        "started_at",
        "duration",
    ]
    list_display_links = None
    list_filter = ["status", FunctionFilter, "tenant", EventNameFilter, StartedWithinFilter, ErrorTypeFilter]
    search_fields = ["=run_id", "=event_id", "=error_type"]
    search_help_text = "A run id, an event id or an exact error type."
    list_select_related = ["tenant"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["replay_runs", "cancel_runs"]
    fields = [
        "run_id",
        "function_id",
        "status_display",
        "tenant_link",
        "event_link",
        "attempts",
        "started_at",
        "finished_at",
        "duration",
        "queue_wait",
        "error_type",
        "error_pretty",
        "output_pretty",
        "event_payload",
        "timeline",
    ]
    readonly_fields = fields
    change_form_template = "admin/jobs/jobrun/change_form.html"

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="jobs_jobrun_dashboard"),
            path("<path:object_id>/replay/", self.admin_site.admin_view(self.replay_view), name="jobs_jobrun_replay"),
            path("<path:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="jobs_jobrun_cancel"),
            *super().get_urls(),
        ]

    # list columns

    @admin.display(description="Run", ordering="run_id")
    def run_link(self, obj: JobRun) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:jobs_jobrun_change", args=[obj.pk]), obj.run_id)

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: JobRun) -> str:
        return status_badge(obj.status)

    @admin.display(description="Duration")
    def duration(self, obj: JobRun) -> str:
        end = obj.finished_at or (None if obj.status in TERMINAL else timezone.now())
        return _duration((end - obj.started_at).total_seconds() if end else None)

    # detail fields

    @admin.display(description="Queue wait")
    def queue_wait(self, obj: JobRun) -> str:
        return _duration(obj.queue_wait_ms / 1000) if obj.queue_wait_ms is not None else "unknown"

    @admin.display(description="Tenant")
    def tenant_link(self, obj: JobRun) -> str:
        if obj.tenant_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> (fix its settings here, then replay)',
            reverse("admin:tenants_tenant_change", args=[obj.tenant_id]),
            obj.tenant,
        )

    @admin.display(description="Triggering event")
    def event_link(self, obj: JobRun) -> str:
        if obj.event_log_id is None:
            return f"{obj.event_name} {obj.event_id}".strip() or "-"
        return format_html(
            '<a href="{}">{}</a> {}',
            reverse("admin:jobs_eventlog_change", args=[obj.event_log_id]),
            obj.event_name,
            obj.event_id,
        )

    @admin.display(description="Error")
    def error_pretty(self, obj: JobRun) -> str:
        return pretty_json(obj.error) if obj.error else "-"

    @admin.display(description="Output")
    def output_pretty(self, obj: JobRun) -> str:
        return pretty_json(obj.output) if obj.output is not None else "-"

    @admin.display(description="Event payload")
    def event_payload(self, obj: JobRun) -> str:
        row = EventLog.objects.filter(pk=obj.event_log_id).first() if obj.event_log_id else None
        return pretty_json(row.payload) if row else "-"

    @admin.display(description="Step timeline")
    def timeline(self, obj: JobRun) -> str:
        attempts = list(obj.step_attempts.order_by("started_at", "id"))
        if not attempts:
            return "no steps recorded"
        rows = []
        for index, attempt in enumerate(attempts):
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            ended = attempt.started_at + timedelta(milliseconds=attempt.duration_ms)
            if following is not None:
                delay = _duration(max(0.0, (following.started_at - ended).total_seconds()))
            elif attempt.next_retry_at:
                delay = f"scheduled {_duration((attempt.next_retry_at - ended).total_seconds())}"
            else:
                delay = "-"
            rows.append(
                (
                    attempt.step_id,
                    attempt.step_name,
                    attempt.attempt,
                    status_badge(attempt.status),
                    attempt.started_at.strftime("%H:%M:%S.%f")[:-3],
                    _duration(attempt.duration_ms / 1000),
                    attempt.next_retry_at.strftime("%H:%M:%S") if attempt.next_retry_at else "-",
                    delay,
                    _error_cell(attempt),
                )
            )
        return format_html(
            '<table class="nh-timeline"><thead><tr><th>Step</th><th>Kind</th><th>Attempt</th><th>Status</th>'
            "<th>Started</th><th>Duration</th><th>Next retry / wake</th><th>Delay before next</th><th>Error</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td></tr>",
                rows,
            ),
        )

    # views

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_replay": self.has_replay_permission(request),
            "can_cancel": self.has_cancel_permission(request),
            "terminal_statuses": TERMINAL,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        hours = 24
        summary = runs_dashboard(hours=hours)
        peak = max([bucket.runs for bucket in summary["hourly"]] + [1])
        bar_width = 24
        bars = [
            {
                "x": index * bar_width,
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
        context = {
            **self.admin_site.each_context(request),
            "title": f"Job runs: the last {hours} hours",
            "opts": self.opts,
            "summary": summary,
            "bars": bars,
            "chart_width": len(bars) * bar_width + 30,  # room for the last hour's label
            "slowest": [
                {**row, "average": _duration(row["avg_duration"].total_seconds() if row["avg_duration"] else None)}
                for row in summary["slowest"]
            ],
            "failed_url": f"{reverse('admin:jobs_failedjobrun_changelist')}?{urlencode({'within': '24h'})}",
            "changelist": changelist,
            "status_cards": [
                (status, count, f"{changelist}?{urlencode({'status__exact': status, 'within': '24h'})}")
                for status, count in summary["by_status"].items()
            ],
        }
        return TemplateResponse(request, "admin/jobs/dashboard.html", context)

    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        run = get_object_or_404(JobRun, pk=object_id)
        if not (self.has_view_permission(request, run) and self.has_replay_permission(request)):
            return HttpResponse(status=403)
        back = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[run.pk])
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            _report_replay(self, request, runs_replay(runs=[run]))
            return HttpResponseRedirect(back)
        events, skipped = replayable_events(runs=[run])
        return _confirm_replay(
            self, request, title="Replay this run?", runs_count=1, events=events, skipped=skipped, hidden={}
        )

    @admin.action(description="Replay the selected runs' events (new event ids, new runs)", permissions=["replay"])
    def replay_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> HttpResponse | None:
        runs = queryset.select_related(None).only("id", "run_id", "event_log_id")
        runs_count = queryset.count()
        distinct_events = queryset.exclude(event_log=None).values("event_log_id").distinct().order_by().count()
        if distinct_events > MAX_BULK_REPLAY:  # refuse before loading anything
            self.message_user(
                request,
                f"Refused: these {runs_count} runs come from {distinct_events} events, more than {MAX_BULK_REPLAY} "
                "at once; narrow the filter (e.g. by tenant or time range).",
                messages.WARNING,
            )
            return None
        if request.POST.get("confirm") == "yes":
            events, skipped = replayable_events(runs=runs.iterator(chunk_size=2000))
            result = events_replay(events=events)
            result.skipped[:0] = skipped
            _report_replay(self, request, result)
            return None
        events, skipped = replayable_events(runs=runs.iterator(chunk_size=2000))
        return _confirm_replay(
            self,
            request,
            title="Replay runs?",
            runs_count=runs_count,
            events=events,
            skipped=skipped,
            hidden=_action_hidden(request, "replay_runs"),
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        run = get_object_or_404(JobRun, pk=object_id)
        if not (self.has_view_permission(request, run) and self.has_cancel_permission(request)):
            return HttpResponse(status=403)
        back = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[run.pk])
        if run.status in TERMINAL:
            self.message_user(
                request, f"Run {run.run_id} already {run.status}: it cannot be cancelled.", messages.ERROR
            )
            return HttpResponseRedirect(back)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            _report_cancel(self, request, *_cancel_runs([run]))
            return HttpResponseRedirect(back)
        return _confirm_cancel(self, request, title="Cancel this run?", runs=[run], skipped=[], hidden={})

    @admin.action(description="Cancel the selected running/retrying runs", permissions=["cancel"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> HttpResponse | None:
        runs = list(queryset.exclude(status__in=TERMINAL).order_by("pk")[: MAX_BULK_CANCEL + 1])
        finished = queryset.filter(status__in=TERMINAL).select_related(None).only("run_id", "status")[:50]
        skipped = [f"run {run.run_id}: already {run.status}" for run in finished]
        if len(runs) > MAX_BULK_CANCEL:
            self.message_user(
                request,
                f"Refused: more than {MAX_BULK_CANCEL} unfinished runs selected; narrow the filter.",
                messages.WARNING,
            )
            return None
        if request.POST.get("confirm") == "yes":
            cancelled, failures = _cancel_runs(runs)
            _report_cancel(self, request, cancelled, failures + skipped)
            return None
        return _confirm_cancel(
            self,
            request,
            title="Cancel runs?",
            runs=runs,
            skipped=skipped,
            hidden=_action_hidden(request, "cancel_runs"),
        )


# --- cancel ------------------------------------------------------------------------------------------------------


def _cancel_runs(runs: list[JobRun]) -> tuple[list[str], list[str]]:
    """Cancel each run on the server; (cancelled run ids, why each other one was not)."""
    cancelled: list[str] = []
    failures: list[str] = []
    for run in runs:
        try:
            jobrun_cancel(run=run)
        except CancelError as error:
            failures.append(str(error))
        else:
            cancelled.append(run.run_id)
    return cancelled, failures


def _confirm_cancel(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    title: str,
    runs: list[JobRun],
    skipped: list[str],
    hidden: dict[str, Any],
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "runs": runs,
        "skipped": skipped,
        "hidden": hidden,
        "selected_ids": hidden.pop("_selected_ids", []),
    }
    return TemplateResponse(request, "admin/jobs/cancel_confirmation.html", context)


def _report_cancel(
    model_admin: admin.ModelAdmin, request: HttpRequest, cancelled: list[str], failed: list[str]
) -> None:
    if cancelled:
        model_admin.message_user(
            request,
            f"Cancelled {len(cancelled)} run(s) on the Inngest server and marked them cancelled "
            f"({', '.join(cancelled[:5])}); a step already executing finishes, nothing runs after it.",
            messages.SUCCESS,
        )
    if failed:
        model_admin.message_user(request, f"Not cancelled ({len(failed)}): " + "; ".join(failed[:5]), messages.ERROR)
    if not cancelled and not failed:
        model_admin.message_user(request, "Nothing to cancel.", messages.INFO)


def _error_cell(attempt: StepAttempt) -> str:
    if not attempt.error:
        return "-"
    if not attempt.traceback:
        return format_html('<span class="nh-error">{}</span>', attempt.error)
    return format_html(
        '<details><summary class="nh-error">{}</summary><pre class="nh-json">{}</pre></details>',
        attempt.error,
        attempt.traceback,
    )


@admin.register(FailedJobRun)
class FailedJobRunAdmin(JobRunAdmin):
    """The failed runs only: where "why didn't this agency's emails get generated?" starts."""

    list_filter = [FunctionFilter, "tenant", EventNameFilter, StartedWithinFilter, ErrorTypeFilter]
    actions = ["replay_runs"]  # failed runs have finished: nothing to cancel

    def get_urls(self):
        return super(JobRunAdmin, self).get_urls()

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=JobRun.Status.FAILED)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("jobs.view_jobrun")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:jobs_jobrun_change", args=[object_id]))
