from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from nurturehub.redaction import redact

from .errors import CrmError
from .models import CrmConnection, CrmExternalId, CrmRateLimitBucket, CrmSyncLog
from .services import crm_verify_connection


class CrmConnectionForm(forms.ModelForm):
    """Secrets are write-only: the form never renders them, and a blank field keeps the stored ones."""

    new_secrets = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "size": 80}),
        help_text='Replace the stored secrets with this JSON object, e.g. {"api_key": "..."}. '
        "Leave blank to keep the current ones.",
    )

    class Meta:
        model = CrmConnection
        fields = ["tenant", "provider", "config", "status"]

    def clean_new_secrets(self) -> dict[str, str] | None:
        raw = self.cleaned_data["new_secrets"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"Not valid JSON: {error.msg} (position {error.pos})") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("Secrets must be a JSON object of strings.")
        return value

    def save(self, commit: bool = True) -> CrmConnection:
        connection = super().save(commit=False)
        if self.cleaned_data.get("new_secrets") is not None:
            connection.set_secrets(self.cleaned_data["new_secrets"])
        if commit:
            connection.save()
        return connection


@admin.register(CrmConnection)
class CrmConnectionAdmin(admin.ModelAdmin):
    form = CrmConnectionForm
    list_display = ["tenant", "provider", "status", "last_synced_at", "stored_secrets"]
    list_filter = ["provider", "status"]
    search_fields = ["tenant__name", "tenant__slug"]
    readonly_fields = ["stored_secrets", "last_error", "last_synced_at", "created_at", "updated_at"]
    change_form_template = "admin/crm_adapters/crmconnection/change_form.html"

    def get_urls(self):
        return [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="crm_adapters_crmconnection_test",
            ),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The "test connection" button: the adapter's own check, its outcome as a message (never a secret)."""
        connection = get_object_or_404(CrmConnection, pk=object_id)
        if request.method != "POST" or not self.has_change_permission(request, connection):
            return HttpResponseForbidden("POST with permission to change the connection")
        try:
            result = crm_verify_connection(connection=connection)
        except CrmError as error:
            self.message_user(
                request,
                redact(f"Connection test failed ({type(error).__name__}): {error}", connection.secrets.values()),
                level=messages.ERROR,
            )
        else:
            self.message_user(
                request, redact(f"Connection OK: {result.detail}", connection.secrets.values()), level=messages.SUCCESS
            )
        back = request.POST.get("next") or reverse("admin:crm_adapters_crmconnection_change", args=[connection.pk])
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("admin:crm_adapters_crmconnection_change", args=[connection.pk])
        return HttpResponseRedirect(back)

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: CrmConnection) -> str:
        return ", ".join(obj.secret_names) or "none"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs and state written by the services: operations staff read them, nobody edits them by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CrmSyncLog)
class CrmSyncLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "tenant",
        "provider",
        "direction",
        "entity",
        "outcome",
        "status",
        "error_type",
        "external_id",
        "internal_id",
        "duration_ms",
    ]
    list_filter = ["status", "provider", "entity", "direction", "error_type"]
    search_fields = ["tenant__slug", "external_id", "internal_id", "dedupe_key"]
    list_select_related = ["tenant"]
    date_hierarchy = "created_at"


@admin.register(CrmExternalId)
class CrmExternalIdAdmin(ReadOnlyAdmin):
    list_display = ["contact", "connection", "external_id", "updated_at"]
    search_fields = ["external_id", "contact__email", "connection__tenant__slug"]
    list_select_related = ["contact", "connection__tenant"]


@admin.register(CrmRateLimitBucket)
class CrmRateLimitBucketAdmin(ReadOnlyAdmin):
    list_display = ["key", "theoretical_arrival", "updated_at"]
    search_fields = ["key"]
