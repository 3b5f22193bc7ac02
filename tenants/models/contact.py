from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from .categories import Category
from .tenant import Tenant


class ContactQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant) -> ContactQuerySet:
        return self.filter(tenant=tenant)

    def active(self) -> ContactQuerySet:
        return self.filter(is_archived=False)

    def with_category(self) -> ContactQuerySet:
        return self.exclude(category="")


class Contact(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        CSV_IMPORT = "csv-import", "CSV import"
        CRM_AGENTOS = "crm:agentos", "CRM: agentOS"
        CRM_REAPIT = "crm:reapit", "CRM: Reapit"
        CRM_ALTO = "crm:alto", "CRM: Alto"
        CRM_STREET = "crm:street", "CRM: Street"
        CRM_LOOP = "crm:loop", "CRM: Loop"

    class Consent(models.TextChoices):
        GRANTED = "granted", "Granted"
        DENIED = "denied", "Denied"
        UNKNOWN = "unknown", "Unknown"
        PENDING = "pending", "Pending"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=40, blank=True)
    address = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    consent_status = models.CharField(max_length=10, choices=Consent.choices, default=Consent.UNKNOWN)
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    category = models.CharField(max_length=30, choices=Category.choices, blank=True)
    intent_score = models.PositiveSmallIntegerField(default=0)
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint("tenant", Lower("email"), name="contact_unique_email_per_tenant"),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "id"], name="contact_tenant_created"),
            models.Index(fields=["tenant", "category"], name="contact_tenant_category"),
            models.Index(fields=["tenant", "-intent_score"], name="contact_tenant_score"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class CategoryAssignment(models.Model):
    """One (re)assignment of a contact's category; the previous one is superseded, never deleted."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        CSV_IMPORT = "csv-import", "CSV import"
        CRM = "crm", "CRM"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="category_assignments")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="category_assignments")
    from_category = models.CharField(max_length=30, choices=Category.choices, blank=True)
    to_category = models.CharField(max_length=30, choices=Category.choices)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    assigned_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-assigned_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact"],
                condition=models.Q(superseded_at__isnull=True),
                name="category_assignment_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact.full_name or self.contact.email}: {self.from_category or '-'} -> {self.to_category}"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None
