"""What flow control holds right now, for the engine's admin (read-only): pending debounces and batches, runs
waiting in a pause (wait_for_event, invoke), runs held back by a throttle, and the latest skipped runs.

Each row names its function, its key, when it is due and the run or event concerned; the page links them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from . import expressions, gate_config
from .gate_models import SkippedRun
from .models import Function, Pause, PendingBatch, PendingDebounce, QueueItem, Run

LIMIT = 200  # rows per section: the page shows the oldest (most overdue) first and says when there are more


@dataclass(frozen=True)
class Held:
    function: Function
    key: str
    due_at: datetime | None
    what: str  # what is held: an event, a batch of N, a run's step
    run_id: str = ""
    detail: str = ""

    @property
    def local_id(self) -> str:
        """The function's id in its app (the slug without the app's prefix), as the app's own run lists name it."""
        return self.function.slug.removeprefix(f"{self.function.app.name}-")


def flow_state(*, now: datetime | None = None) -> dict[str, list[Held]]:
    now = now or timezone.now()
    return {
        "debounces": _debounces(),
        "batches": _batches(),
        "pauses": _pauses(),
        "throttled": _throttled(now),
        "skipped": _skipped(),
    }


def _debounces() -> list[Held]:
    rows = PendingDebounce.objects.select_related("function__app", "event").order_by("fire_at", "id")[:LIMIT]
    return [
        Held(
            row.function,
            row.key,
            row.fire_at,
            f"event {row.event.internal_id}",
            detail=f"at the latest {row.timeout_at:%Y-%m-%d %H:%M:%S}" if row.timeout_at else "",
        )
        for row in rows
    ]


def _batches() -> list[Held]:
    rows = PendingBatch.objects.select_related("function__app").order_by("fire_at", "id")[:LIMIT]
    return [Held(row.function, row.key, row.fire_at, f"{len(row.event_ids)} event(s)") for row in rows]


def _pauses() -> list[Held]:
    rows = Pause.objects.select_related("run__function__app").order_by("expires_at", "id")[:LIMIT]
    return [
        Held(
            row.run.function,
            row.correlation_id or row.event_name,
            row.expires_at,
            f"{row.get_kind_display()} {row.step_name}".strip(),
            run_id=row.run.run_id,
            detail=row.expression,
        )
        for row in rows
    ]


def _throttled(now: datetime) -> list[Held]:
    """Queued runs whose first request waits for a throttle slot (their discovery item is due later)."""
    items = (
        QueueItem.objects.filter(
            step_id=QueueItem.DISCOVERY, run__status=Run.Status.QUEUED, available_at__gt=now, lease_owner__isnull=True
        )
        .select_related("run__function__app", "run__event")
        .order_by("available_at", "id")[: LIMIT * 5]
    )
    held: list[Held] = []
    for item in items:
        function = item.run.function
        gates = gate_config.gates_of(function.config)
        if gates is None or gates.throttle is None:
            continue
        held.append(
            Held(function, _throttle_key(gates.throttle.key, item.run), item.available_at, "run", item.run.run_id)
        )
        if len(held) >= LIMIT:
            break
    return held


def _throttle_key(expression: str | None, run: Run) -> str:
    if not expression:
        return "(the function's)"
    event: dict[str, Any] = run.event.to_inngest() if run.event else {}
    return expressions.key_value(expression, {"event": event}) or "(not evaluable)"


def _skipped() -> list[Held]:
    rows = SkippedRun.objects.select_related("function__app", "event").order_by("-created_at", "-id")[:LIMIT]
    return [
        Held(
            row.function,
            row.detail,
            row.created_at,
            row.get_reason_display(),
            detail=f"event {row.event.internal_id}" if row.event else "",
        )
        for row in rows
    ]
