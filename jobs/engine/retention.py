"""What of the engine's own history may be pruned: the engine's tables, known here only.

The host app's retention (`jobs.retention`) prunes these in its batches without knowing the schema: it asks
`apps.get_app_config("engine").retention_tables()` (apps.py) for the tables below, by name, each with the rows
old enough to go at a given moment. Never pruned: runs that are not finished or still have queue items (a queue
item goes with its finished run only), events such a run came from or a pending debounce or an open batch holds,
and idempotency keys younger than Inngest's 24 h de-duplication window, whatever `ENGINE_RETENTION_DAYS` says.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL

from .models import Event, EventIdempotency, PendingDebounce, QueueItem, Run

#: Inngest de-duplicates event ids for 24 h: the engine's idempotency keys must outlive that, whatever is set.
MIN_ENGINE_RETENTION = timedelta(days=1)
FINISHED = [Run.Status.COMPLETED, Run.Status.FAILED, Run.Status.CANCELLED]


def _cutoff(now: datetime) -> datetime:
    return now - max(timedelta(days=settings.ENGINE_RETENTION_DAYS), MIN_ENGINE_RETENTION)


def stale_runs(now: datetime) -> models.QuerySet:
    """Finished runs without queue items (their memos go with them)."""
    cutoff = _cutoff(now)
    return (
        Run.objects.filter(status__in=FINISHED, created_at__lt=cutoff)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__lt=cutoff))
        .exclude(Exists(QueueItem.objects.filter(run=OuterRef("pk"))))
    )


def stale_events(now: datetime) -> models.QuerySet:
    """Received events no unfinished run came from, and no pending debounce or open batch holds for its run."""
    unfinished = Run.objects.filter(event=OuterRef("pk"), status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
    debounced = PendingDebounce.objects.filter(event=OuterRef("pk"))
    # An open batch lists its events' ids in a JSON array, which the ORM cannot join on (PendingBatch's table).
    batched = RawSQL("SELECT jsonb_array_elements_text(event_ids)::bigint FROM engine_pendingbatch", [])
    return (
        Event.objects.filter(received_at__lt=_cutoff(now))
        .exclude(Exists(unfinished))
        .exclude(Exists(debounced))
        .exclude(pk__in=batched)
    )


def stale_idempotency_keys(now: datetime) -> models.QuerySet:
    return EventIdempotency.objects.filter(seen_at__lt=_cutoff(now))


def retention_tables() -> dict[str, Callable[[datetime], models.QuerySet]]:
    """The engine's prunable tables by the name reports use, a parent after the rows that point to it."""
    return {
        "engine_runs": stale_runs,
        "engine_events": stale_events,
        "engine_idempotency": stale_idempotency_keys,
    }
