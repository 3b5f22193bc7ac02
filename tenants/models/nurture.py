from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .categories import Category
from .contact import Contact
from .tenant import Tenant


class NurtureSequence(models.Model):
    """A three-email AI-written sequence for one contact in one category; drafts until an agent approves."""

    class Status(models.TextChoices):
        GENERATING = "generating", "Generating"
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        SUPERSEDED = "superseded", "Superseded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sequences")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="sequences")
    category = models.CharField(max_length=30, choices=Category.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.GENERATING)
    brand_voice_snapshot = models.JSONField(default=dict)
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # The event that asked for this sequence: a retried store step finds its sequence instead of making another.
    source_event_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "source_event_id"],
                condition=~models.Q(source_event_id=""),
                name="sequence_unique_source_event",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "contact", "-created_at"], name="sequence_contact_created")]

    def __str__(self) -> str:
        return (
            f"{self.get_category_display()} sequence for {self.contact.full_name or self.contact.email} ({self.status})"
        )


class NurtureEmail(models.Model):
    sequence = models.ForeignKey(NurtureSequence, on_delete=models.CASCADE, related_name="emails")
    position = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3)])
    subject = models.CharField(max_length=200)
    preview_text = models.CharField(max_length=300)
    body_html = models.TextField()
    body_text = models.TextField()
    send_delay_days = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="email_unique_position"),
            models.CheckConstraint(condition=models.Q(position__gte=1, position__lte=3), name="email_position_1_3"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.subject}"
