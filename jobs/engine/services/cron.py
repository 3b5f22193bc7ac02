"""Cron triggers: each due trigger starts its function's run once, then is set to its next time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from django.db import transaction
from django.utils import timezone
from ulid import ULID

from .. import hooks
from ..models import Event, Trigger
from ..protocol import datetime_to_ms
from .intake import runs_start


def cron_next(cron: str, *, after: datetime) -> datetime:
    """The next fire time after `after`; `TZ=Europe/London 0 2 * * *` schedules in that zone."""
    zone = ZoneInfo("UTC")
    expression = cron.strip()
    if expression.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, expression = expression.partition(" ")
        zone = ZoneInfo(prefix.split("=", 1)[1])
    if not croniter.is_valid(expression):
        raise ValueError("not a cron expression")
    return croniter(expression, after.astimezone(zone)).get_next(datetime)


@hooks.tick(order=10)  # first: its runs may be held by the debounce sweep that follows
def cron_fire_due(*, now: datetime | None = None) -> int:
    """Start the runs of every cron trigger that is due; each fires once, then is set to its next time."""
    now = now or timezone.now()
    fired = 0
    with transaction.atomic():
        due = list(
            Trigger.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_fire_at__lte=now, function__archived_at__isnull=True)
            .exclude(cron="")
            .select_related("function")
        )
        for trigger in due:
            scheduled_at = trigger.next_fire_at
            event = Event.objects.create(
                internal_id=str(ULID()),
                name="inngest/scheduled.timer",
                data={"cron": trigger.cron, "scheduledAt": scheduled_at.isoformat(), "fireAt": now.isoformat()},
                ts=datetime_to_ms(now),
                received_at=now,
            )
            # Debounced as Inngest debounces a cron's run; never batched (delayed.starts_hold).
            runs_start(hooks.hold_starts([(trigger.function, event)], now=now, batching=False), now=now)
            trigger.next_fire_at = cron_next(trigger.cron, after=max(now, scheduled_at))
            trigger.save(update_fields=["next_fire_at"])
            fired += 1
    return fired
