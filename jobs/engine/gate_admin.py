"""The admin's list of skipped runs: events a function's rate limit, idempotency key or singleton kept from starting."""

from __future__ import annotations

from django.contrib import admin

from nurturehub.admin_readonly import ReadOnlyAdmin

from .gate_models import SkippedRun


@admin.register(SkippedRun)
class SkippedRunAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "function", "reason", "detail", "event"]
    list_filter = ["reason", "function"]
    list_select_related = ["function", "event"]
    readonly_fields = ["created_at", "function", "reason", "detail", "event"]
