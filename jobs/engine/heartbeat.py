"""Dispatchers' heartbeats: each running dispatcher stamps a row every few seconds; `/readyz` wants a fresh one.

A dispatcher that stops cleanly removes its row; one that dies leaves a row that simply goes stale.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from .models import DispatcherHeartbeat

BEAT_SECONDS = 5.0


FORGET_AFTER = timedelta(days=1)  # a dead dispatcher's row is removed by the next live one's beat


def heartbeat_beat(*, owner: str, started_at: datetime) -> None:
    now = timezone.now()
    DispatcherHeartbeat.objects.update_or_create(owner=owner, defaults={"beat_at": now, "started_at": started_at})
    DispatcherHeartbeat.objects.filter(beat_at__lt=now - FORGET_AFTER).delete()


def heartbeat_forget(*, owner: str) -> None:
    DispatcherHeartbeat.objects.filter(owner=owner).delete()
