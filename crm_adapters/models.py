from __future__ import annotations

from django.db import models

from tenants.models import Tenant

from .crypto import decrypt_secrets, encrypt_secrets


class Provider(models.TextChoices):
    AGENTOS = "agentos", "agentOS (LetMC)"
    REAPIT = "reapit", "Reapit Foundations"
    ALTO = "alto", "Alto (Zoopla)"
    STREET = "street", "Street"
    LOOP = "loop", "Loop"


class CrmConnection(models.Model):
    """A tenant's one CRM connection. Secrets are stored only encrypted and never rendered anywhere."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ERROR = "error", "Error"
        DISCONNECTED = "disconnected", "Disconnected"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="crm_connection")
    provider = models.CharField(max_length=10, choices=Provider.choices)
    # Non-secret settings: base URL, customer/agency reference, branch or office ids.
    config = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__name"]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.tenant_id}"

    def __repr__(self) -> str:
        return f"<CrmConnection id={self.pk} tenant={self.tenant_id} provider={self.provider} status={self.status}>"

    @property
    def secrets(self) -> dict[str, str]:
        """The decrypted secrets (API key, client secret...). Hand them only to an adapter's client."""
        return decrypt_secrets(self.secrets_encrypted)

    def set_secrets(self, secrets: dict[str, str]) -> None:
        self.secrets_encrypted = encrypt_secrets(secrets)

    @property
    def secret_names(self) -> list[str]:
        """Which secrets are set (never their values): what the admin and API may show."""
        return sorted(self.secrets)
