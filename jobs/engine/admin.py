"""A small read-only admin: synced apps, registered functions with their sync status, and queue depth.

Runs and failures are shown by the operations admin (jobs), which works with real Inngest too.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse

from nurturehub.admin_readonly import ReadOnlyAdmin

from .flow_state import LIMIT as FLOW_LIMIT
from .flow_state import flow_state
from .models import App, Function
from .selectors import queue_depths


def _runs_url() -> str:
    """The operations admin's runs list, where the host project has one (the engine does not depend on it)."""
    try:
        return reverse("admin:jobs_jobrun_changelist")
    except NoReverseMatch:
        return ""


@admin.register(App)
class AppAdmin(ReadOnlyAdmin):
    list_display = ["name", "url", "sync_status", "function_count", "synced_at", "sdk"]
    readonly_fields = ["name", "url", "sdk", "framework", "checksum", "sync_error", "synced_at", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[App]:
        return (
            super()
            .get_queryset(request)
            .annotate(active_functions=Count("functions", filter=Q(functions__archived_at__isnull=True)))
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        # Said where operators look: /v0/gql and the engine's REST side have no per-agency scope.
        subtitle = (
            "The signing key (INNGEST_SIGNING_KEY) reads every agency's runs and events through the engine's "
            "API (/v0/gql, /v0/runs/...): keep it with the operators."
        )
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": subtitle})

    @admin.display(description="sync")
    def sync_status(self, app: App) -> str:
        return f"error: {app.sync_error}" if app.sync_error else "ok"

    @admin.display(description="functions", ordering="active_functions")
    def function_count(self, app: App) -> int:
        return app.active_functions


@admin.register(Function)
class FunctionAdmin(ReadOnlyAdmin):
    list_display = ["slug", "app", "sync_status", "trigger_summary", "retries", "concurrency_summary", "queued"]
    list_filter = ["app", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["slug", "name"]
    readonly_fields = [
        "slug",
        "name",
        "app",
        "step_url",
        "retries",
        "concurrency",
        "config_error",
        "config",
        "archived_at",
    ]
    exclude = ["id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Function]:
        return (
            super()
            .get_queryset(request)
            .select_related("app")
            .prefetch_related("triggers")
            .annotate(queued=Count("queue_items"))
        )

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.queue_depth_view)
        flow = self.admin_site.admin_view(self.flow_control_view)
        return [
            path("queue-depth/", view, name="engine_function_queue_depth"),
            path("flow-control/", flow, name="engine_function_flow_control"),
            *super().get_urls(),
        ]

    def flow_control_view(self, request: HttpRequest) -> HttpResponse:
        """What flow control holds now (flow_state.py): debounces, batches, pauses, throttled and skipped runs."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        context = {
            **self.admin_site.each_context(request),
            "title": "Flow control: what the engine holds now",
            "opts": self.model._meta,
            "state": flow_state(),
            "runs_url": _runs_url(),
            "limit": FLOW_LIMIT,
        }
        return TemplateResponse(request, "admin/engine/flow_control.html", context)

    def queue_depth_view(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Engine queue depth per function and concurrency key",
            "opts": self.model._meta,
            "depths": queue_depths(),
        }
        return TemplateResponse(request, "admin/engine/queue_depth.html", context)

    @admin.display(description="sync")
    def sync_status(self, function: Function) -> str:
        if function.archived_at:
            return f"archived {function.archived_at:%Y-%m-%d %H:%M}"
        if function.app.sync_error:
            return f"app sync error: {function.app.sync_error}"
        return f"config error: {function.config_error}" if function.config_error else "synced"

    @admin.display(description="triggers")
    def trigger_summary(self, function: Function) -> str:
        parts = [
            f"cron {t.cron} (next {t.next_fire_at:%Y-%m-%d %H:%M})" if t.cron else t.event_name
            for t in function.triggers.all()
        ]
        return ", ".join(parts)

    @admin.display(description="concurrency")
    def concurrency_summary(self, function: Function) -> str:
        return ", ".join(f"{c['key'] or '(function)'} ≤ {c['limit']} [{c['scope']}]" for c in function.concurrency)

    @admin.display(description="queued", ordering="queued")
    def queued(self, function: Function) -> int:
        return function.queued


from . import gate_admin  # noqa: E402, F401  (skipped runs: registered beside the engine's other tables)
