from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from .contact import Contact
from .tenant import Tenant


class EngagementEvent(models.Model):
    """One thing a contact did (opened, clicked, replied) or a CRM signal; the input of intent scoring."""

    class Kind(models.TextChoices):
        EMAIL_OPEN = "email.open", "Email opened"
        EMAIL_CLICK = "email.click", "Email link clicked"
        EMAIL_REPLY = "email.reply", "Email replied"
        VIEWING_BOOKED = "viewing.booked", "Viewing booked"
        VALUATION_BOOKED = "valuation.booked", "Valuation booked"
        OFFER_MADE = "offer.made", "Offer made"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="engagement_events")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="engagement_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    sequence = models.ForeignKey(
        "tenants.NurtureSequence", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email_position = models.PositiveSmallIntegerField(null=True, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    # The provider's own id (ESP webhook, CRM): the same id twice is one engagement, not two.
    provider_event_id = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "provider_event_id"],
                condition=~models.Q(provider_event_id=""),
                name="engagement_unique_provider_event",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "contact", "occurred_at"], name="engagement_contact_time")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.contact.full_name or self.contact.email} at {self.occurred_at:%Y-%m-%d %H:%M}"


class IntentScore(models.Model):
    """A contact's score at one moment, with the breakdown that explains it (the admin shows why it is hot)."""

    class Band(models.TextChoices):
        COLD = "cold", "Cold"
        WARM = "warm", "Warm"
        HOT = "hot", "Hot"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="intent_scores")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="intent_scores")
    score = models.PositiveSmallIntegerField()
    band = models.CharField(max_length=5, choices=Band.choices)
    breakdown = models.JSONField(default=dict)
    reason = models.CharField(max_length=100, blank=True)
    # The contact's score before this one: whether the hot threshold was crossed survives a retried step.
    previous_score = models.PositiveSmallIntegerField(null=True, blank=True)
    # The `lead/intent.score` event that asked for it: a retried store step finds this row instead of adding one.
    source_event_id = models.CharField(max_length=64, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-computed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_event_id"],
                condition=~models.Q(source_event_id=""),
                name="score_unique_source_event",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "contact", "-computed_at"], name="score_contact_time")]

    def __str__(self) -> str:
        return f"{self.contact.full_name or self.contact.email}: {self.score} ({self.band})"


class HotLeadAlert(models.Model):
    class Outcome(models.TextChoices):
        CONTACTED = "contacted", "Contacted"
        BOOKED = "booked", "Viewing/valuation booked"
        NOT_INTERESTED = "not-interested", "Not interested"
        NO_ANSWER = "no-answer", "No answer"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="hot_lead_alerts")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="hot_lead_alerts")
    score = models.PositiveSmallIntegerField()
    threshold = models.PositiveSmallIntegerField()
    breakdown = models.JSONField(default=dict)
    recipients = models.JSONField(default=list)
    # One alert per `alert/hot-lead.fire` event: a retried step finds it instead of creating a second.
    source_event_id = models.CharField(max_length=64, unique=True)
    fired_at = models.DateTimeField()
    emailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["-fired_at"]
        indexes = [models.Index(fields=["tenant", "contact", "-fired_at"], name="alert_contact_time")]

    def __str__(self) -> str:
        return f"Hot lead {self.contact.full_name or self.contact.email}: {self.score}"
