"""API representations. Input serializers only parse; the services validate the business rules and write."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from tenants.models import Category, Contact, EngagementEvent, HotLeadAlert, NurtureEmail, NurtureSequence


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 moment that says its time zone: a bare "10:00" is refused, never guessed to be UTC."""

    default_error_messages = {
        "naive": "Give the time zone (e.g. `Z` or `+01:00`): a time without one is ambiguous.",
        "no_date": "Not a real moment: {problem} (year 1 to 9999, a month's own days).",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:  # well formed but impossible (year 0, 30 February) raises instead of returning None
                parsed = parse_datetime(value.strip()) if value.strip() else None
            except ValueError as error:
                self.fail("no_date", problem=str(error))
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


class ContactSerializer(serializers.ModelSerializer):
    assigned_agent_id = serializers.IntegerField(read_only=True, allow_null=True)
    # "" for a contact not categorised yet: the schema says so (one of the categories, or blank).
    category = serializers.ChoiceField(choices=Category.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "address",
            "source",
            "consent_status",
            "consent_updated_at",
            "assigned_agent_id",
            "category",
            "intent_score",
            "is_archived",
            "archived_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactWriteSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    email = serializers.EmailField(max_length=254)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    consent_status = serializers.ChoiceField(choices=Contact.Consent.choices, required=False)
    assigned_agent_id = serializers.IntegerField(required=False, allow_null=True)


class CategoryAssignSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=Category.choices)


class CategoryAssignedSerializer(serializers.Serializer):
    changed = serializers.BooleanField()
    category = serializers.CharField()
    assignment_id = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()


class NurtureEmailSerializer(serializers.ModelSerializer):
    class Meta:
        model = NurtureEmail
        fields = ["position", "subject", "preview_text", "body_html", "body_text", "send_delay_days"]


class NurtureSequenceSerializer(serializers.ModelSerializer):
    emails = NurtureEmailSerializer(many=True, read_only=True)

    class Meta:
        model = NurtureSequence
        fields = ["id", "contact_id", "category", "status", "model", "created_at", "emails"]


class EngagementInSerializer(serializers.Serializer):
    contact_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=EngagementEvent.Kind.choices)
    occurred_at = AwareDateTimeField()
    url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")
    email_position = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3)
    sequence_id = serializers.UUIDField(required=False, allow_null=True)
    provider_event_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    # Free-form; the API's JSON parser has already refused NUL characters, lone surrogates and deep nesting.
    metadata = serializers.DictField(required=False, default=dict)


class EngagementOutSerializer(serializers.ModelSerializer):
    contact_id = serializers.UUIDField(read_only=True)
    sequence_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = EngagementEvent
        fields = [
            "id",
            "contact_id",
            "kind",
            "occurred_at",
            "url",
            "email_position",
            "sequence_id",
            "provider_event_id",
            "created_at",
        ]


class HotLeadAlertSerializer(serializers.ModelSerializer):
    contact_id = serializers.UUIDField(read_only=True)
    acknowledged_by_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = HotLeadAlert
        fields = [
            "id",
            "contact_id",
            "score",
            "threshold",
            "breakdown",
            "fired_at",
            "emailed_at",
            "acknowledged_at",
            "acknowledged_by_id",
            "outcome",
        ]


class AlertAcknowledgeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=HotLeadAlert.Outcome.choices)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    message = serializers.CharField()
    extra = serializers.DictField()
