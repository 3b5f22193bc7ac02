"""Representations of runs for the frontend: what went wrong, never our tracebacks."""

from __future__ import annotations

from rest_framework import serializers

from jobs.models import JobRun, StepAttempt


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
