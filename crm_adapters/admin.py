from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from nurturehub.admin_readonly import ReadOnlyAdmin
from nurturehub.redaction import redact

from .base import VerifyResult
from .errors import CrmError
from .factory import adapter_for
from .forms import PROVIDER_SECRETS, PROVIDER_SETTINGS, CrmConnectionForm, secret_field_name, setting_field_name
from .models import CrmConnection, CrmExternalId, CrmRateLimitBucket, CrmSyncLog, Provider
from .services import crm_verify_connection


@admin.register(CrmConnection)
class CrmConnectionAdmin(admin.ModelAdmin):
    """Each provider's own fields; Test connection checks the values typed (before saving) beside the button."""

    form = CrmConnectionForm
    list_display = ["tenant", "provider", "status", "last_error_short", "last_synced_at", "stored_secrets"]
    list_filter = ["provider", "status"]
    search_fields = ["tenant__name", "tenant__slug"]
    autocomplete_fields = ["tenant"]
    readonly_fields = ["stored_secrets", "last_error", "last_synced_at", "created_at", "updated_at"]
    # The status follows the pushes (set by the services), and a connection stays with its agency.
    state_fields = ["status"]
    change_form_template = "admin/crm_adapters/crmconnection/change_form.html"

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": ["tenant", "provider", "status"]})]
        for provider, label in Provider.choices:
            names = [setting_field_name(provider, setting.key) for setting in PROVIDER_SETTINGS[provider]]
            names += [secret_field_name(provider, key) for key, _ in PROVIDER_SECRETS[provider]]
            fieldsets.append((label, {"fields": names, "classes": ["nh-provider", f"nh-provider-{provider}"]}))
        fieldsets.append(("State", {"fields": list(self.readonly_fields)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*self.state_fields, *(["tenant"] if obj is not None else []), *self.readonly_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The per-provider fields are added by the form itself (CrmConnectionForm.__init__), not declared.
        kwargs["fields"] = CrmConnectionForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="crm_adapters_crmconnection_test",
            ),
            path(
                "test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="crm_adapters_crmconnection_test_new",
            ),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, object_id: str | None = None) -> HttpResponse:
        """Test connection: the values the form posts (nothing saved), or the saved connection when none posted.

        The page's button posts the whole form here and shows the answer beside it (a fragment); the tenant
        page's button posts no fields and gets the saved connection's check as a message.
        """
        connection = get_object_or_404(CrmConnection, pk=object_id) if object_id else None
        allowed = self.has_change_permission(request, connection) if connection else self.has_add_permission(request)
        if request.method != "POST" or not allowed:
            return HttpResponseForbidden("POST with permission to change the connection")
        if "provider" in request.POST:
            form = self.get_form(request, connection)(request.POST, instance=connection)
            ok, text = self._test_form_values(form)
        elif connection is not None:
            ok, text = _check(lambda: crm_verify_connection(connection=connection), connection.secrets.values())
        else:
            ok, text = False, "Nothing to test: fill in the form first."
        if request.headers.get("X-NH-Fragment"):
            return HttpResponse(
                format_html('<span class="nh-test-{}">{}</span>', "ok" if ok else "failed", text), status=200
            )
        self.message_user(request, text, level=messages.SUCCESS if ok else messages.ERROR)
        back = request.POST.get("next") or (
            reverse("admin:crm_adapters_crmconnection_change", args=[connection.pk]) if connection else "."
        )
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("admin:crm_adapters_crmconnection_changelist")
        return HttpResponseRedirect(back)

    @staticmethod
    def _test_form_values(form: forms.ModelForm) -> tuple[bool, str]:
        if not form.is_valid():
            problems = "; ".join(
                f"{form.fields[name].label if name in form.fields else name}: {' '.join(errors)}"
                for name, errors in form.errors.items()
            )
            return False, f"Not tested: {problems}"

        def verify() -> VerifyResult:
            with adapter_for(form.connection_to_test()) as adapter:
                return adapter.verify()

        saved = form.instance.secrets.values() if form.instance.secrets_encrypted else []
        ok, text = _check(verify, [*form.secrets.values(), *saved])
        return ok, f"{text} (the values in the form, not saved yet)"

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: CrmConnection) -> str:
        return ", ".join(obj.secret_names) or "none"

    @admin.display(description="Last error")
    def last_error_short(self, obj: CrmConnection) -> str:
        return (obj.last_error[:120] + "...") if len(obj.last_error) > 120 else (obj.last_error or "-")


def _check(call, secrets) -> tuple[bool, str]:
    """Run a connection check; its outcome as text with `secrets` (and their encodings) redacted."""
    try:
        result = call()
    except CrmError as error:
        return False, redact(f"Connection test failed ({type(error).__name__}): {error}", secrets)
    return True, redact(f"Connection OK: {result.detail}", secrets)


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
    list_filter = ["status", "provider", "entity", "direction", "error_type", "tenant"]
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
