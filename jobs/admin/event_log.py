"""The event log: every emission, accepted or rejected, with the runs it started and the run that emitted it."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from jobs.models import EventLog, JobRun
from jobs.replay import MAX_BULK_REPLAY, events_replay

from .base import ReadOnlyAdminMixin, pretty_json, status_badge
from .confirmations import Confirmation, action_hidden, confirm_action, is_confirmed
from .filters import CreatedWithinFilter
from .search import search_events


def report_replay(model_admin: admin.ModelAdmin, request: HttpRequest, result) -> None:
    if result.replayed:
        model_admin.message_user(
            request,
            f"Re-sent {result.replayed} event(s) under new event ids: every function listening to them runs, "
            f"its own flow control applying (first new id: {result.new_event_ids[0]}).",
            messages.SUCCESS,
        )
    if result.skipped:
        model_admin.message_user(
            request, f"Skipped {len(result.skipped)}: " + "; ".join(result.skipped[:5]), messages.WARNING
        )
    if not result.replayed and not result.skipped:
        model_admin.message_user(request, "Nothing to re-send.", messages.INFO)


def replay_confirmation(
    *, title: str, runs_count: int | None, events: list[EventLog], skipped: list[str]
) -> Confirmation:
    names: dict[str, int] = {}
    for row in events:
        names[row.name] = names.get(row.name, 0) + 1
    too_many = len(events) > MAX_BULK_REPLAY
    return Confirmation(
        title=title,
        container_id="nh-replay-confirmation",
        summary_template="admin/jobs/_replay_summary.html",
        confirm_label=f"Yes, re-send {len(events)} event{'s' if len(events) != 1 else ''}",
        confirm_id="nh-confirm-replay",
        skipped=skipped,
        blocked=f"More than {MAX_BULK_REPLAY} events: narrow the filter first."
        if too_many
        else ("" if events else "Nothing to replay."),
        context={"runs_count": runs_count, "events_count": len(events), "event_names": sorted(names.items())},
    )


@admin.register(EventLog)
class EventLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "status_display", "tenant", "event_id", "source_link", "created_at"]
    list_filter = ["status", "name", CreatedWithinFilter, "tenant"]
    search_fields = ["name"]  # the real search is search_events (get_search_results)
    search_help_text = (
        "An event id (with or without dashes), a run id (its event and the events it emitted), a contact's email "
        'or name, a tenant\'s slug, an event name; or "payload:" followed by any text in the payload.'
    )
    list_select_related = ["tenant"]
    list_per_page = 25
    show_full_result_count = False
    actions = ["replay_events"]
    fields = [
        "name",
        "status",
        "tenant",
        "event_id",
        "source_link",
        "replay_lineage",
        "created_at",
        "sent_at",
        "send_attempts",
        "last_error",
        "payload_pretty",
        "errors_pretty",
        "runs_triggered",
    ]
    readonly_fields = fields
    change_list_template = "admin/jobs/change_list.html"
    change_form_template = "admin/jobs/change_form.html"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.startswith("payload:"):
            text = term.removeprefix("payload:").strip()
            return queryset.annotate(payload_text=Cast("payload", output_field=TextField())).filter(
                payload_text__icontains=text
            ), False
        return search_events(queryset, term), False

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: EventLog) -> str:
        return status_badge(obj.status)

    @admin.display(description="Source")
    def source_link(self, obj: EventLog) -> str:
        """`run:<id>` links the run that emitted this event; a replay links the event it replays."""
        if obj.source.startswith("run:"):
            run_id = obj.source.removeprefix("run:")
            run_pk = JobRun.objects.filter(run_id=run_id).values_list("pk", flat=True).first()
            if run_pk:
                return format_html(
                    'run <a href="{}">{}</a>', reverse("admin:jobs_jobrun_change", args=[run_pk]), run_id
                )
        return obj.source or "-"

    @admin.display(description="Replay lineage")
    def replay_lineage(self, obj: EventLog) -> str:
        return render_to_string(
            "admin/jobs/_event_lineage.html",
            {"replay_of": obj.replay_of, "replays": list(obj.replays.order_by("created_at")[:20])},
        )

    @admin.display(description="Payload")
    def payload_pretty(self, obj: EventLog) -> str:
        return pretty_json(obj.payload)

    @admin.display(description="Validation errors")
    def errors_pretty(self, obj: EventLog) -> str:
        return pretty_json(obj.errors) if obj.errors else "-"

    @admin.display(description="Runs this event triggered")
    def runs_triggered(self, obj: EventLog) -> str:
        runs = list(JobRun.objects.filter(event_id=obj.event_id).order_by("started_at")[:100]) if obj.event_id else []
        return render_to_string("admin/jobs/_run_list.html", {"runs": runs, "empty": "none recorded (yet)"})

    @admin.action(description="Re-send selected events (new event ids: every listener runs)", permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[EventLog]) -> HttpResponse | None:
        events = list(queryset.exclude(status=EventLog.Status.REJECTED)[: MAX_BULK_REPLAY + 1])
        skipped = [f"event {row.pk}: rejected, nothing to replay" for row in queryset.filter(status="rejected")[:50]]
        if is_confirmed(request) and len(events) <= MAX_BULK_REPLAY:
            report_replay(self, request, events_replay(events=events))
            return None
        confirmation = replay_confirmation(title="Re-send events?", runs_count=None, events=events, skipped=skipped)
        return confirm_action(self, request, confirmation, hidden=action_hidden(request, "replay_events"))
