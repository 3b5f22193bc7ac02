from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import EventLog


class ReadOnlyAdmin(admin.ModelAdmin):
    """Log tables are written by the system only; staff read them and act through admin actions."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def pretty_json(value: object) -> str:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


@admin.register(EventLog)
class EventLogAdmin(ReadOnlyAdmin):
    list_display = ["name", "status", "tenant", "event_id", "source", "created_at", "sent_at"]
    list_filter = ["status", "name", "tenant", "created_at"]
    search_fields = ["=event_id", "name"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
    show_full_result_count = False
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
    ]
    readonly_fields = fields

    @admin.display(description="Payload")
    def payload_pretty(self, obj: EventLog) -> str:
        return pretty_json(obj.payload)

    @admin.display(description="Validation errors")
    def errors_pretty(self, obj: EventLog) -> str:
        return pretty_json(obj.errors) if obj.errors else "-"
