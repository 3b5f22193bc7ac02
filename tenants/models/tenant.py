from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def default_email_delays() -> list[int]:
    """Days before each of the three emails: email 1 at once, 2 three days later, 3 seven days after that."""
    return [0, 3, 7]


class Tenant(models.Model):
    """An agency. Every row that belongs to an agency points here; no query crosses tenants."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    brand_voice = models.TextField(help_text="How the agency writes, in its own words.")
    brand_tone = models.CharField(max_length=200, blank=True, help_text="Optional: e.g. warm, professional")
    brand_vocabulary = models.JSONField(default=list, blank=True, help_text="Words and phrases to prefer.")
    brand_sign_off = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, default="Europe/London")
    warm_threshold = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    hot_threshold = models.PositiveSmallIntegerField(
        default=80, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    alert_cooldown_hours = models.PositiveSmallIntegerField(default=24)
    category_multipliers = models.JSONField(
        default=dict, blank=True, help_text='Overrides per category slug, e.g. {"seller": 1.3}.'
    )
    email_delays_days = models.JSONField(default=default_email_delays)
    alert_recipients = models.JSONField(
        default=list, blank=True, help_text="Extra addresses copied on every hot-lead alert."
    )
    jobs_paused = models.BooleanField(default=False, help_text="Hold new background work for this agency.")
    job_concurrency_limit = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Per-tenant concurrency override, where the Inngest server honours it."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(warm_threshold__lt=models.F("hot_threshold")),
                name="tenant_warm_below_hot",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        AGENT = "agent", "Agent"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"
