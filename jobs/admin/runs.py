"""Runs and failed runs: the lists (live), the run page (timeline first) and the replay, cancel, dismiss actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from jobs.cancel import CancelError, jobrun_cancel
from jobs.models import FailedJobRun, JobRun, RunReplay, StepAttempt
from jobs.replay import MAX_BULK_RUN_REPLAY, failures_dismiss, runs_replay
from jobs.tracking import TERMINAL
from tenants.admin_badges import paused_badge

from . import dashboard
from .base import ReadOnlyAdminMixin, format_duration, pretty_json, row_id_or_404, status_badge
from .confirmations import Confirmation, action_hidden, confirm_action, is_confirmed
from .filters import (
    ErrorTypeFilter,
    EventNameFilter,
    FailureStateFilter,
    FunctionFilter,
    StartedWithinFilter,
)
from .replays import failure_state, report_run_replay, run_replay_confirmation
from .run_page import run_links
from .search import search_runs
from .timeline import run_display_status, run_timeline
from .timeline_entry import clock

MAX_BULK_CANCEL = 100  # one DELETE per run to the Inngest server, inside the admin request
MAX_BULK_DISMISS = 10_000


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "run_link",
        "function_id",
        "agency",
        "status_display",
        "failure",
        "error_type",
        "started_at",
        "duration",
    ]
    list_display_links = None
    list_filter = ["status", FunctionFilter, "tenant", EventNameFilter, StartedWithinFilter, ErrorTypeFilter]
    search_fields = ["run_id"]  # the real search is search_runs (get_search_results)
    search_help_text = "A run id, an event id (with or without dashes), a contact's email or name, or an error type."
    list_select_related = ["tenant"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["replay_runs", "cancel_runs"]
    change_list_template = "admin/jobs/change_list.html"

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="jobs_jobrun_dashboard"),
            path("<path:object_id>/replay/", self.admin_site.admin_view(self.replay_view), name="jobs_jobrun_replay"),
            path("<path:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="jobs_jobrun_cancel"),
            path(
                "<path:object_id>/dismiss/", self.admin_site.admin_view(self.dismiss_view), name="jobs_jobrun_dismiss"
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        latest = RunReplay.objects.filter(original=OuterRef("pk")).order_by("-requested_at", "-id")
        replay_run = JobRun.objects.filter(run_id=OuterRef("replay_run_id"))
        last_attempt = StepAttempt.objects.filter(run=OuterRef("pk")).order_by("-started_at", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                replay_state=Subquery(latest.values("state")[:1]),
                replay_reason=Subquery(latest.values("reason")[:1]),
                replay_run_id=Subquery(latest.values("run_id")[:1]),
                replay_of_pk=Subquery(RunReplay.objects.filter(run_id=OuterRef("run_id")).values("original_id")[:1]),
            )
            .annotate(
                replay_pk=Subquery(replay_run.values("pk")[:1]),
                replay_run_status=Subquery(replay_run.values("status")[:1]),
                # A running run whose last attempt is a sleep not yet over is sleeping, not running.
                last_step_name=Subquery(last_attempt.values("step_name")[:1]),
                last_wake_at=Subquery(last_attempt.values("next_retry_at")[:1]),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (search_runs(queryset, term), False) if term else (queryset, False)

    # list columns

    @admin.display(description="Run", ordering="run_id")
    def run_link(self, obj: JobRun) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:jobs_jobrun_change", args=[obj.pk]), obj.run_id)

    @admin.display(description="Agency", ordering="tenant__name")
    def agency(self, obj: JobRun) -> str:
        if obj.tenant is None:
            return "-"
        return format_html("{} {}", obj.tenant.name, paused_badge(obj.tenant))

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: JobRun) -> str:
        wake = getattr(obj, "last_wake_at", None)
        if obj.status == JobRun.Status.RUNNING and getattr(obj, "last_step_name", "") == "sleep" and wake:
            if wake > timezone.now():
                return status_badge("sleeping", f"sleeping until {clock(wake)}")
        return status_badge(obj.status)

    @admin.display(description="Failure")
    def failure(self, obj: JobRun) -> str:
        return failure_state(obj)

    @admin.display(description="Duration")
    def duration(self, obj: JobRun) -> str:
        """How long it took, or for a run not finished yet how long it has been running ("running for ...")."""
        end = obj.finished_at or (None if obj.status in TERMINAL else timezone.now())
        took = format_duration((end - obj.started_at).total_seconds() if end else None)
        return took if obj.finished_at or obj.status in TERMINAL else f"running for {took}"

    # the run page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(JobRun.objects.select_related("tenant"), pk=row_id_or_404(object_id))
        if not self.has_view_permission(request, run):
            return HttpResponse(status=403)
        entries = run_timeline(run)
        display_status, display_label = run_display_status(run, entries)
        failed_attempts = sum(1 for entry in entries if entry.kind == "attempt" and entry.status != "completed")
        context = {
            **self.admin_site.each_context(request),
            "title": f"{run.function_id} {run.run_id}",
            "opts": JobRun._meta,
            "original": run,
            "run": run,
            "entries": entries,
            "display_status": display_status,
            "display_label": display_label,
            "failed_attempts": failed_attempts,
            "retried_attempts": sum(1 for entry in entries if entry.status == "failed" and entry.kind == "attempt"),
            "duration": self.duration(run),
            "queue_wait": format_duration(run.queue_wait_ms / 1000) if run.queue_wait_ms is not None else "unknown",
            "output_pretty": pretty_json(run.output) if run.output is not None else "",
            "tenant_badge": paused_badge(run.tenant),
            "can_replay": self.has_replay_permission(request),
            "can_cancel": self.has_cancel_permission(request),
            "can_dismiss": self.has_replay_permission(request) and run.status == JobRun.Status.FAILED,
            "terminal_statuses": TERMINAL,
            "live": run.status not in TERMINAL,
            **run_links(run),
        }
        context["payload_pretty"] = pretty_json(context["event"].payload) if context["event"] else ""
        return TemplateResponse(request, "admin/jobs/jobrun/run_page.html", context)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        return TemplateResponse(request, "admin/jobs/dashboard.html", dashboard.context(self, request))

    # replay

    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        run = get_object_or_404(JobRun, pk=row_id_or_404(object_id))
        if not (self.has_view_permission(request, run) and self.has_replay_permission(request)):
            return HttpResponse(status=403)
        back = reverse("admin:jobs_jobrun_change", args=[run.pk])
        if is_confirmed(request):
            report_run_replay(self, request, runs_replay(runs=[run], requested_by=request.user.get_username()))
            return HttpResponseRedirect(back)
        return confirm_action(self, request, run_replay_confirmation("Replay this run?", [run]))

    @admin.action(description="Replay the selected failed runs (one new run each)", permissions=["replay"])
    def replay_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> HttpResponse | None:
        runs_count = queryset.count()
        if runs_count > MAX_BULK_RUN_REPLAY:  # refuse before loading anything
            self.message_user(
                request,
                f"Refused: {runs_count} runs selected, more than {MAX_BULK_RUN_REPLAY} at once (one request to the "
                "Inngest server each); narrow the filter (e.g. by tenant or time range).",
                messages.WARNING,
            )
            return None
        runs = list(queryset.select_related(None).order_by("pk"))
        if is_confirmed(request):
            report_run_replay(self, request, runs_replay(runs=runs, requested_by=request.user.get_username()))
            return None
        confirmation = run_replay_confirmation("Replay runs?", runs)
        return confirm_action(self, request, confirmation, hidden=action_hidden(request, "replay_runs"))

    # cancel

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        run = get_object_or_404(JobRun, pk=row_id_or_404(object_id))
        if not (self.has_view_permission(request, run) and self.has_cancel_permission(request)):
            return HttpResponse(status=403)
        back = reverse("admin:jobs_jobrun_change", args=[run.pk])
        if run.status in TERMINAL:
            self.message_user(
                request, f"Run {run.run_id} already {run.status}: it cannot be cancelled.", messages.ERROR
            )
            return HttpResponseRedirect(back)
        if is_confirmed(request):
            _report_cancel(self, request, *_cancel_runs([run]))
            return HttpResponseRedirect(back)
        return confirm_action(self, request, _cancel_confirmation("Cancel this run?", [run], []))

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
        if is_confirmed(request):
            cancelled, failures = _cancel_runs(runs)
            _report_cancel(self, request, cancelled, failures + skipped)
            return None
        confirmation = _cancel_confirmation("Cancel runs?", runs, skipped)
        return confirm_action(self, request, confirmation, hidden=action_hidden(request, "cancel_runs"))

    # dismiss

    def dismiss_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The run page's "Dismiss this failure": the same confirmation, with a reason, as the list action."""
        run = get_object_or_404(JobRun, pk=row_id_or_404(object_id))
        if not (self.has_view_permission(request, run) and self.has_replay_permission(request)):
            return HttpResponse(status=403)
        response = self.dismiss_failures(request, JobRun.objects.filter(pk=run.pk))
        return response or HttpResponseRedirect(reverse("admin:jobs_jobrun_change", args=[run.pk]))

    @admin.action(description="Dismiss the selected failures (no replay; give a reason)", permissions=["replay"])
    def dismiss_failures(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> HttpResponse | None:
        runs = queryset.filter(status=JobRun.Status.FAILED, dismissed_at__isnull=True)
        runs_count = runs.count()
        reason = request.POST.get("reason", "").strip()
        if is_confirmed(request) and reason and runs_count <= MAX_BULK_DISMISS:
            dismissed = failures_dismiss(
                runs=runs.select_related(None).only("id"), reason=reason, dismissed_by=request.user.get_username()
            )
            self.message_user(request, f"Dismissed {dismissed} failure(s): {reason}", messages.SUCCESS)
            return None
        confirmation = Confirmation(
            title="Dismiss failures?",
            container_id="nh-dismiss-confirmation",
            summary_template="admin/jobs/_dismiss_summary.html",
            confirm_label=f"Dismiss {runs_count} failure{'s' if runs_count != 1 else ''}",
            confirm_id="nh-confirm-dismiss",
            ask_reason=True,
            blocked=""
            if 0 < runs_count <= MAX_BULK_DISMISS
            else ("Nothing to dismiss." if not runs_count else "Too many at once: narrow the filter."),
            context={"runs_count": runs_count},
        )
        return confirm_action(self, request, confirmation, hidden=action_hidden(request, "dismiss_failures"))


def _cancel_confirmation(title: str, runs: list[JobRun], skipped: list[str]) -> Confirmation:
    return Confirmation(
        title=title,
        container_id="nh-cancel-confirmation",
        summary_template="admin/jobs/_cancel_summary.html",
        confirm_label=f"Yes, cancel {len(runs)} run{'s' if len(runs) != 1 else ''}",
        confirm_id="nh-confirm-cancel",
        skipped=skipped,
        blocked="" if runs else "Nothing to cancel: only running or retrying runs can be cancelled.",
        context={"runs": runs},
    )


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


@admin.register(FailedJobRun)
class FailedJobRunAdmin(JobRunAdmin):
    """The failed runs as a worklist: open failures by default (not replayed, not dismissed)."""

    list_display = ["run_link", "function_id", "agency", "failure", "error_type", "started_at"]
    list_filter = [FailureStateFilter, FunctionFilter, "tenant", ErrorTypeFilter, EventNameFilter, StartedWithinFilter]
    actions = ["replay_runs", "dismiss_failures"]  # failed runs have finished: nothing to cancel

    def get_urls(self):
        return super(JobRunAdmin, self).get_urls()

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=JobRun.Status.FAILED)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("jobs.view_jobrun")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:jobs_jobrun_change", args=[object_id]))
