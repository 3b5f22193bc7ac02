"""The CRM connection form: each provider's own settings and secrets as fields, secrets write-only.

Which settings a provider reads is in its package (README "Connection config / secrets"); this form mirrors them so
an operator fills in named fields instead of a JSON object. Keys a provider reads that the form does not show
(e.g. a `token_url` override) are kept as they are. A secret field left blank keeps the stored secret; stored
secrets are never rendered, only whether each one is set. A stored secret only ever goes to the saved endpoint:
when the form changes where requests go (`ENDPOINT_SETTINGS`), each secret must be typed again, to save or to test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from nurturehub.admin_widgets import ListRowsField, MappingRowsField
from tenants.models import Category

from .models import CrmConnection, Provider


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    kind: str = "text"  # text, url, list, bool, mapping
    required: bool = False
    help: str = ""


BASE_URL = Setting("base_url", "Base URL", "url", help="Leave blank for the provider's production API.")

PROVIDER_SETTINGS: dict[str, list[Setting]] = {
    Provider.REAPIT: [
        Setting("customer_id", "Customer id", required=True, help="Reapit customer, e.g. SBOX."),
        Setting("office_ids", "Office ids", "list", help="Offices new applicants belong to."),
        Setting("negotiator_ids", "Negotiator ids", "list"),
        Setting("category_ids", "Reapit id per category", "mapping", help="Optional: a Reapit id per category."),
        Setting("journal_type_id", "Journal type id", help="Blank: the default journal type."),
        Setting("source_id", "Source id"),
        BASE_URL,
    ],
    Provider.AGENTOS: [
        Setting("short_name", "Short name", required=True, help="The agency's agentOS short name."),
        Setting("branch_id", "Branch id", required=True),
        BASE_URL,
    ],
    Provider.ALTO: [
        Setting("agency_ref", "Agency ref", required=True),
        Setting("branch_id", "Branch id", required=True),
        Setting("sandbox", "Use Alto's sandbox", "bool"),
        BASE_URL,
    ],
    Provider.STREET: [BASE_URL],
    Provider.LOOP: [
        Setting("base_url", "Base URL", "url", required=True, help="Loop's API for this agency (not public)."),
    ],
}

#: Settings that decide where a provider's requests, and so its secrets, go (base URL, Alto's sandbox host, an
#: OAuth token URL override kept from the saved config).
ENDPOINT_SETTINGS = ("base_url", "sandbox", "token_url")

PROVIDER_SECRETS: dict[str, list[tuple[str, str]]] = {
    Provider.REAPIT: [("client_id", "Client id"), ("client_secret", "Client secret")],
    Provider.AGENTOS: [("api_key", "API key")],
    Provider.ALTO: [("client_id", "Client id"), ("client_secret", "Client secret")],
    Provider.STREET: [("token", "API token")],
    Provider.LOOP: [("api_key", "API key")],
}


def setting_field_name(provider: str, key: str) -> str:
    return f"{provider}__{key}"


def secret_field_name(provider: str, key: str) -> str:
    return f"{provider}__secret__{key}"


def _form_field(setting: Setting) -> forms.Field:
    options: dict[str, Any] = {"required": False, "label": setting.label, "help_text": setting.help}
    if setting.kind == "list":
        return ListRowsField(item_field=forms.CharField(max_length=100), **options)
    if setting.kind == "mapping":
        return MappingRowsField(keys=Category.choices, value_field=forms.CharField(max_length=100), **options)
    if setting.kind == "bool":
        return forms.BooleanField(**options)
    if setting.kind == "url":
        return forms.URLField(assume_scheme="https", **options)
    return forms.CharField(max_length=200, **options)


class CrmConnectionForm(forms.ModelForm):
    """Per-provider settings and write-only secrets; `connection_to_test()` gives the values typed, unsaved."""

    class Meta:
        model = CrmConnection
        fields = ["tenant", "provider", "status"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.secret_names if self.instance.secrets_encrypted else []
        for provider, settings in PROVIDER_SETTINGS.items():
            for setting in settings:
                field = _form_field(setting)
                if self.instance.provider == provider:
                    field.initial = (self.instance.config or {}).get(setting.key)
                self.fields[setting_field_name(provider, setting.key)] = field
            for key, label in PROVIDER_SECRETS[provider]:
                is_stored = self.instance.provider == provider and key in stored
                self.fields[secret_field_name(provider, key)] = forms.CharField(
                    required=False,
                    label=label,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                    help_text="Stored; type a new one to replace it, or leave blank to keep it."
                    if is_stored
                    else "Not set.",
                )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        provider = cleaned.get("provider")
        if not provider:
            return cleaned
        same_provider = self.instance.pk is not None and self.instance.provider == provider
        known = {setting.key for setting in PROVIDER_SETTINGS[provider]}
        # Keys the form does not show (overrides such as token_url) stay as they were.
        config = {k: v for k, v in (self.instance.config or {}).items() if k not in known} if same_provider else {}
        for setting in PROVIDER_SETTINGS[provider]:
            value = cleaned.get(setting_field_name(provider, setting.key))
            if value in (None, "", [], {}, False):
                if setting.required:
                    self.add_error(setting_field_name(provider, setting.key), "Required for this CRM.")
                continue
            config[setting.key] = value
        saved = self.instance.config or {}
        moved = [key for key in ENDPOINT_SETTINGS if (config.get(key) or None) != (saved.get(key) or None)]
        # A stored secret is kept only for the saved provider and endpoint: never sent anywhere else.
        keep_stored = same_provider and self.instance.secrets_encrypted and not moved
        secrets = dict(self.instance.secrets) if keep_stored else {}
        for key, _ in PROVIDER_SECRETS[provider]:
            typed = (cleaned.get(secret_field_name(provider, key)) or "").strip()
            if typed:
                secrets[key] = typed
            elif key not in secrets:
                stored = same_provider and self.instance.secrets_encrypted and key in self.instance.secret_names
                self.add_error(
                    secret_field_name(provider, key),
                    f"Type it again: the {moved[0].replace('_', ' ')} changed, and a stored secret only goes to "
                    "the saved endpoint."
                    if stored and moved
                    else "Required for this CRM.",
                )
        self.config, self.secrets = config, secrets
        return cleaned

    def save(self, commit: bool = True) -> CrmConnection:
        settings_changed = (
            self.instance.pk is None
            or "provider" in self.changed_data
            or self.config != (self.instance.config or {})
            or self.secrets != (self.instance.secrets if self.instance.secrets_encrypted else {})
        )
        connection = super().save(commit=False)
        if settings_changed and connection.status == CrmConnection.Status.ERROR:
            # The error was about the old settings: the new ones have not failed yet (the next call will tell).
            connection.status, connection.last_error = CrmConnection.Status.ACTIVE, ""
        connection.config = self.config
        connection.set_secrets(self.secrets)
        if commit:
            connection.save()
        return connection

    def connection_to_test(self) -> CrmConnection:
        """The connection as typed, never saved (same pk, so it shares the saved one's rate limits)."""
        connection = CrmConnection(
            pk=self.instance.pk,
            tenant=self.cleaned_data.get("tenant") or self.instance.tenant,
            provider=self.cleaned_data["provider"],
            status=self.cleaned_data.get("status") or self.instance.status or CrmConnection.Status.ACTIVE,
            config=self.config,
        )
        connection.set_secrets(self.secrets)
        return connection
