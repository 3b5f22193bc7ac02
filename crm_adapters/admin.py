from __future__ import annotations

import json

from django import forms
from django.contrib import admin

from .models import CrmConnection


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

    @admin.display(description="Stored secrets")
    def stored_secrets(self, obj: CrmConnection) -> str:
        return ", ".join(obj.secret_names) or "none"
