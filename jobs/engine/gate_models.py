"""Flow-control state: GCRA rate-limit/throttle keys, a run's singleton key, and runs an option kept from starting.

Imported by models.py so that Django registers them with the engine app; the logic is in gates.py.
"""

from __future__ import annotations

from django.db import models


class GcraKey(models.Model):
    """One rate limit or throttle key's theoretical arrival time (TAT), as Inngest keeps it in Redis.

    A TAT in the past is the same as no key at all (pkg/execution/ratelimit/lua/ratelimit.lua starts a missing key
    at `now`), so rows are never needed after their TAT and are pruned then.
    """

    key = models.CharField(max_length=255, primary_key=True)
    tat_ns = models.BigIntegerField()

    def __str__(self) -> str:
        return self.key


class RunSingleton(models.Model):
    """The singleton key a run holds while it is queued or running (Inngest's singleton lock)."""

    run = models.OneToOneField("engine.Run", on_delete=models.CASCADE, primary_key=True, related_name="singleton")
    key = models.CharField(max_length=255, db_index=True)

    def __str__(self) -> str:
        return f"{self.run_id}: {self.key}"


class SkippedRun(models.Model):
    """An event that matched a function whose flow control (or invalid config) started no run, and why (Inngest's
    skipped run)."""

    class Reason(models.TextChoices):
        IDEMPOTENCY = "idempotency", "Idempotency key already used"
        RATE_LIMIT = "rate_limit", "Rate limited"
        SINGLETON = "singleton", "Singleton run in progress"
        CONFIG_ERROR = "config_error", "Function config invalid"

    function = models.ForeignKey("engine.Function", on_delete=models.CASCADE, related_name="skipped_runs")
    event = models.ForeignKey("engine.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.function_id} skipped ({self.reason})"
