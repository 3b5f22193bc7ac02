"""Replaying events from the admin: each replay re-emits the original payload under a NEW event id.

A new id is what makes Inngest start new runs (it de-duplicates on the id for 24 h). Replaying an event starts
every function that listens to it, not only the one whose run failed: the confirmation page says so.

Lineage: the new EventLog row points at the one it replays (`replay_of`), so a failed run links to its replays
and a replay to the run it retried; a run whose event was replayed already is not replayed again (its replay
carries the thread; if that one fails, it is the open failure to replay). Failures that need no replay are
dismissed with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .emit import EventRejected, emit_many
from .events import Event, EventVersionError, event_type
from .models import EventLog, JobRun

logger = logging.getLogger(__name__)

REPLAY_SOURCE = "admin:replay"
BATCH_SIZE = 500
MAX_BULK_REPLAY = 10_000


@dataclass
class ReplayResult:
    replayed: int = 0
    skipped: list[str] = field(default_factory=list)
    new_event_ids: list[str] = field(default_factory=list)


def replayable_events(*, runs: Iterable[JobRun]) -> tuple[list[EventLog], list[str]]:
    """The distinct triggering events of `runs` (one replay per event), and why any run cannot be replayed.

    An event replayed already is skipped: replaying it again would start a second thread for the same failure.
    """
    event_log_ids: dict[int, str] = {}
    skipped: list[str] = []
    for run_id, event_log_id in ((run.run_id, run.event_log_id) for run in runs):
        if event_log_id is None:
            skipped.append(f"run {run_id}: its event is not in the event log")
        else:
            event_log_ids.setdefault(event_log_id, run_id)
    wanted = list(event_log_ids)
    rows = {row.id: row for row in EventLog.objects.filter(id__in=wanted)}
    replayed_as = dict(
        EventLog.objects.filter(replay_of_id__in=wanted)
        .order_by("replay_of_id", "-id")
        .values_list("replay_of_id", "event_id")
    )
    events = []
    for event_log_id, run_id in event_log_ids.items():
        row = rows.get(event_log_id)
        if row is None or row.status == EventLog.Status.REJECTED:
            skipped.append(f"event {event_log_id}: missing or rejected, nothing to replay")
        elif event_log_id in replayed_as:
            skipped.append(f"run {run_id}: replayed already (event {replayed_as[event_log_id]}); see its replay")
        else:
            events.append(row)
    return events, skipped


def events_replay(*, events: Iterable[EventLog], source: str = REPLAY_SOURCE) -> ReplayResult:
    """Re-emit each event's payload (validated again) under a new id, in batches; a rejected one is skipped."""
    result = ReplayResult()
    by_name: dict[str, list[EventLog]] = {}
    for row in events:
        by_name.setdefault(row.name, []).append(row)
    for name, rows in by_name.items():
        try:
            cls = event_type(name)
        except KeyError:
            result.skipped.extend(f"event {row.event_id}: {name!r} is no longer a known event" for row in rows)
            continue
        for start in range(0, len(rows), BATCH_SIZE):
            _replay_batch(cls, rows[start : start + BATCH_SIZE], source, result)
    logger.info("events replayed", extra={"replayed": result.replayed, "skipped": len(result.skipped)})
    return result


def _upcast(cls: type[Event], rows: list[EventLog], result: ReplayResult) -> tuple[list[EventLog], list[dict]]:
    """Each stored payload upcast from the version it was stored under to the catalogue's current one; a row an
    upcaster cannot convert (a malformed old payload, a version newer than this code) is skipped, with why."""
    kept, payloads = [], []
    for row in rows:
        try:
            payloads.append(cls.upcast(row.payload, row.version))
        except (EventVersionError, KeyError, TypeError, ValueError) as error:
            result.skipped.append(f"event {row.event_id}: version {row.version} cannot be upcast: {error!r}")
        else:
            kept.append(row)
    return kept, payloads


def _replay_batch(cls: type[Event], rows: list[EventLog], source: str, result: ReplayResult) -> None:
    rows, payloads = _upcast(cls, rows, result)
    if not rows:
        return
    try:
        with transaction.atomic():
            new_rows = emit_many(cls, payloads, source=source)
            for original, new_row in zip(rows, new_rows, strict=True):
                new_row.replay_of = original
            EventLog.objects.bulk_update(new_rows, ["replay_of"])
    except EventRejected:
        if len(rows) == 1:
            result.skipped.append(f"event {rows[0].event_id}: its payload no longer validates")
            return
        for row in rows:  # find the bad ones; the good ones still go
            _replay_batch(cls, [row], source, result)
        return
    result.replayed += len(new_rows)
    result.new_event_ids.extend(row.event_id for row in new_rows)


def runs_replay(*, runs: Iterable[JobRun], source: str = REPLAY_SOURCE) -> ReplayResult:
    events, skipped = replayable_events(runs=runs)
    result = events_replay(events=events, source=source)
    result.skipped[:0] = skipped
    return result


def failures_dismiss(*, runs: Iterable[JobRun], reason: str, dismissed_by: str) -> int:
    """Close failed runs that need no replay (e.g. the contact was deleted); the reason is kept on each run."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a dismissal needs a reason")
    ids = [run.pk for run in runs]
    return JobRun.objects.filter(pk__in=ids, status=JobRun.Status.FAILED, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now(), dismissed_by=dismissed_by[:150], dismissed_reason=reason
    )
