"""API representations. Input serializers only parse; the services validate the business rules and write."""

from __future__ import annotations

from rest_framework import serializers

from jobs.models import JobRun, StepAttempt
from tenants.models import Category, Contact, EngagementEvent, HotLeadAlert, NurtureEmail, NurtureSequence


class ContactSerializer(serializers.ModelSerializer):
    assigned_agent_id = serializers.IntegerField(read_only=True, allow_null=True)

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
    occurred_at = serializers.DateTimeField()
    url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")
    email_position = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3)
    sequence_id = serializers.UUIDField(required=False, allow_null=True)
    provider_event_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
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


class JobRunSerializer(serializers.ModelSerializer):
    error_message = serializers.SerializerMethodField()

    class Meta:
        model = JobRun
        fields = [
            "run_id",
            "function_id",
            "status",
            "attempts",
            "event_name",
            "event_id",
            "error_type",
            "error_message",
            "started_at",
            "finished_at",
        ]

    def get_error_message(self, run: JobRun) -> str:
        return str((run.error or {}).get("message", "")) if isinstance(run.error, dict) else ""


class StepAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = StepAttempt
        # No traceback: the frontend gets what went wrong, not our internals.
        fields = ["step_id", "step_name", "attempt", "status", "duration_ms", "error", "next_retry_at", "started_at"]


class JobRunDetailSerializer(JobRunSerializer):
    steps = StepAttemptSerializer(source="step_attempts", many=True, read_only=True)

    class Meta(JobRunSerializer.Meta):
        fields = [*JobRunSerializer.Meta.fields, "output", "steps"]


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    message = serializers.CharField()
    extra = serializers.DictField()
