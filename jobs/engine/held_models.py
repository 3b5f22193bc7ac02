"""Events held before their run starts: a debounced function's latest event and a batching function's open batch.

Models of the engine app (re-exported by models.py, which registers them), kept apart from the run and queue
models that they only point at.
"""

from __future__ import annotations

from django.db import models


class PendingDebounce(models.Model):
    """A debounced function's held event, one per function and key: its run starts at `fire_at` with this event.

    A newer event for the key replaces the event and pushes `fire_at` to now + period, never past `timeout_at`
    (jobs/engine/debounce.py follows inngest pkg/execution/debounce).
    """

    function = models.ForeignKey("engine.Function", on_delete=models.CASCADE, related_name="debounces")
    key = models.CharField(max_length=255)
    event = models.ForeignKey("engine.Event", on_delete=models.CASCADE, related_name="+")
    event_ts = models.BigIntegerField(help_text="The held event's `ts`: an older event arriving late changes nothing.")
    fire_at = models.DateTimeField(db_index=True)
    timeout_at = models.DateTimeField(null=True, blank=True, help_text="The latest start, from the first event.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["fire_at", "id"]
        constraints = [models.UniqueConstraint(fields=["function", "key"], name="engine_debounce_one_per_key")]

    def __str__(self) -> str:
        return f"{self.function_id} debounce {self.key!r}"


class PendingBatch(models.Model):
    """A batching function's open batch for one key: its run starts when full or at `fire_at` (first + timeout)."""

    function = models.ForeignKey("engine.Function", on_delete=models.CASCADE, related_name="batches")
    key = models.CharField(max_length=255)
    event_ids = models.JSONField(default=list, help_text="Event primary keys, in arrival order.")
    size_bytes = models.PositiveBigIntegerField(default=0)
    fire_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["fire_at", "id"]
        constraints = [models.UniqueConstraint(fields=["function", "key"], name="engine_batch_one_open_per_key")]

    def __str__(self) -> str:
        return f"{self.function_id} batch {self.key!r} ({len(self.event_ids)})"
