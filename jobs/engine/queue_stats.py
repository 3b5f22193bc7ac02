"""The engine's queue for `/metrics`: items per registered function and state, with the oldest age of each.

States, as the dispatcher sees an item (models.QueueItem): *ready* (unclaimed and due), *scheduled* (unclaimed,
due later: a backoff, a sleep, a pause's timeout) and *in flight* (claimed, its lease held). Ages:
- ready: since the oldest ready item became due (`available_at`): how long work has waited for a dispatcher;
- scheduled: since the oldest scheduled item was enqueued (`created_at`): a long sleep or a far retry shows here;
- in flight: since the oldest claimed item became due: its wait and its request so far (a stuck request grows).

One query: registered functions LEFT JOIN their queue items (by the foreign key's index), grouped per function
with conditional counts. Its cost follows the queue's length (live work only: an item is deleted when its step
is done) and the number of functions, never the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone

from .models import Function

STATES = ("ready", "scheduled", "in_flight")


@dataclass(frozen=True)
class QueueState:
    function_slug: str
    state: str
    items: int
    #: Seconds (see the module's note for what each state measures); None when no item is in that state.
    oldest_age_seconds: float | None


def queue_stats(now: datetime | None = None) -> list[QueueState]:
    """Every registered function's three states, counted in one query (zeros included, so a series never
    vanishes when its queue empties)."""
    now = now or timezone.now()
    unclaimed = Q(queue_items__lease_owner__isnull=True)
    ready = unclaimed & Q(queue_items__available_at__lte=now)
    scheduled = unclaimed & Q(queue_items__available_at__gt=now)
    in_flight = Q(queue_items__lease_owner__isnull=False)
    rows = (
        Function.objects.values("slug")
        .annotate(
            ready=Count("queue_items", filter=ready),
            scheduled=Count("queue_items", filter=scheduled),
            in_flight=Count("queue_items", filter=in_flight),
            ready_since=Min("queue_items__available_at", filter=ready),
            scheduled_since=Min("queue_items__created_at", filter=scheduled),
            in_flight_since=Min("queue_items__available_at", filter=in_flight),
        )
        .order_by("slug")
    )
    return [
        QueueState(
            function_slug=row["slug"],
            state=state,
            items=row[state],
            oldest_age_seconds=None
            if row[f"{state}_since"] is None
            else max(0.0, (now - row[f"{state}_since"]).total_seconds()),
        )
        for row in rows
        for state in STATES
    ]
