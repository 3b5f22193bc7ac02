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
        return f"{self.get_provider_display()} for {self.tenant.name}"

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


class CrmExternalId(models.Model):
    """Our contact <-> its id in the CRM, per connection: consulted first, so a contact is never created twice."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="external_ids")
    contact = models.ForeignKey("tenants.Contact", on_delete=models.CASCADE, related_name="crm_external_ids")
    external_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CRM external id"
        constraints = [
            models.UniqueConstraint(fields=["connection", "contact"], name="crm_external_id_one_per_contact"),
        ]
        indexes = [models.Index(fields=["connection", "external_id"], name="crm_external_id_lookup")]

    def __str__(self) -> str:
        return f"{self.contact} -> {self.external_id}"


class CrmSyncLog(models.Model):
    """One push to (or pull from) a CRM and how it went; written for every attempt, failed ones included."""

    class Direction(models.TextChoices):
        PUSH = "push", "Push"
        PULL = "pull", "Pull"

    class Entity(models.TextChoices):
        CONTACT = "contact", "Contact"
        NOTE = "note", "Note"
        CONNECTION = "connection", "Connection check"

    class Status(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="crm_sync_logs")
    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="sync_logs")
    provider = models.CharField(max_length=10, choices=Provider.choices)
    direction = models.CharField(max_length=4, choices=Direction.choices, default=Direction.PUSH)
    entity = models.CharField(max_length=10, choices=Entity.choices)
    # created / updated / found / skipped for a success; empty for a failure.
    outcome = models.CharField(max_length=10, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    internal_id = models.CharField(max_length=64, blank=True)
    # A note's de-duplication key (e.g. "sequence:<id>"): a retried step does not write the same note twice.
    dedupe_key = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=7, choices=Status.choices)
    error_type = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "CRM sync log entry"
        verbose_name_plural = "CRM sync log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="crm_sync_log_tenant_time"),
            models.Index(fields=["connection", "dedupe_key"], name="crm_sync_log_dedupe"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.entity} {self.internal_id}: {self.status}"


class CrmRateLimitBucket(models.Model):
    """The shared state of one rate limit (GCRA): every web worker and process sees the same bucket.

    `theoretical_arrival` is the GCRA's TAT in epoch seconds of the database clock; one atomic
    UPDATE ... RETURNING per call decides and reserves, so the limit holds across processes.
    """

    key = models.CharField(max_length=200, primary_key=True)
    theoretical_arrival = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CRM rate-limit bucket"

    def __str__(self) -> str:
        return self.key
