"""The engine's non-trivial reads (for the admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone

from .models import QueueItem


@dataclass(frozen=True)
class QueueDepth:
    function_slug: str
    queue_key: str
    ready: int
    scheduled: int
    in_flight: int
    oldest_ready_at: datetime | None


def queue_depths() -> list[QueueDepth]:
    """Work waiting per function and key queue: ready now, scheduled for later (backoff, sleep), in flight."""
    now = timezone.now()
    ready = Q(lease_owner__isnull=True, available_at__lte=now)
    rows = (
        QueueItem.objects.values("function__slug", "queue_key")
        .annotate(
            ready=Count("id", filter=ready),
            scheduled=Count("id", filter=Q(lease_owner__isnull=True, available_at__gt=now)),
            in_flight=Count("id", filter=Q(lease_owner__isnull=False)),
            oldest_ready_at=Min("available_at", filter=ready),
        )
        .order_by("function__slug", "queue_key")
    )
    return [
        QueueDepth(
            function_slug=row["function__slug"],
            queue_key=row["queue_key"],
            ready=row["ready"],
            scheduled=row["scheduled"],
            in_flight=row["in_flight"],
            oldest_ready_at=row["oldest_ready_at"],
        )
        for row in rows
    ]
