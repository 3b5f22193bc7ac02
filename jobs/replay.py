"""Replaying failed runs from the admin, and re-sending events.

A replay reruns one failed run on the Inngest server (jobs/rerun.py, Inngest's Rerun): one new run of that
function with the original event, whatever flow control the function declares (docs/replay.md: what a rerun
passes and what it obeys). Each replay is a RunReplay row, written before the server is asked and answered after:
`requested`, then `started` (with the new run's id) or `refused` (with the server's reason; the failure stays open).
A failure with a replay in flight is not replayed again (a double click, a second operator): the row is claimed
under the failed run's row lock, in a transaction that ends before the request goes out. A replay of a replay
replays the original, as Inngest keeps the original run id across reruns (pkg/devserver/run_provider.go Rerun).

Re-sending events (the event log's action) is another thing: the payload under a NEW event id, so every function
listening to it runs again, and the function's own flow control (idempotency, rate limit) applies; the new
EventLog row points at the one it re-sends (`replay_of`). Failures that need no replay are dismissed with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .emit import EventRejected, emit_many
from .events import Event, EventVersionError, event_type
from .models import EventLog, JobRun, RunReplay
from .rerun import RerunError, run_rerun_request

logger = logging.getLogger(__name__)

REPLAY_SOURCE = "admin:replay"
BATCH_SIZE = 500
MAX_BULK_REPLAY = 10_000  # events re-sent at once
MAX_BULK_RUN_REPLAY = 500  # runs replayed at once: one request each to the Inngest server, inside the admin request


@dataclass
class ReplayResult:
    replayed: int = 0
    skipped: list[str] = field(default_factory=list)
    new_event_ids: list[str] = field(default_factory=list)


@dataclass
class RunReplayResult:
    started: list[RunReplay] = field(default_factory=list)
    refused: list[RunReplay] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def replay_originals(*, runs: Iterable[JobRun]) -> list[JobRun]:
    """The failed runs to replay for `runs`: a replay run stands for its original; each original once."""
    runs = list(runs)
    originals = dict(
        RunReplay.objects.filter(run_id__in=[run.run_id for run in runs]).values_list("run_id", "original_id")
    )
    wanted = {originals.get(run.run_id, run.pk): None for run in runs}
    by_pk = JobRun.objects.in_bulk(list(wanted))
    return [by_pk[pk] for pk in wanted if pk in by_pk]


def replay_refusal(run: JobRun) -> str | None:
    """Why `run` (an original) cannot be replayed now, or None when it can."""
    if run.status != JobRun.Status.FAILED:
        return f"run {run.run_id} is {run.status}: only failed runs are replayed"
    if run.dismissed_at:
        return f"run {run.run_id} was dismissed ({run.dismissed_reason})"
    if RunReplay.objects.completed(run.pk).exists():
        return f"run {run.run_id} is resolved: a replay of it completed"
    in_flight = RunReplay.objects.in_flight(run.pk).first()
    if in_flight is not None:
        what = f"its replay run {in_flight.run_id} has not finished" if in_flight.run_id else "a replay was just asked"
        return f"run {run.run_id} is being replayed: {what}"
    return None


def runs_replay(*, runs: Iterable[JobRun], requested_by: str = "") -> RunReplayResult:
    """Replay each failed run (a replay of a replay replays its original): one rerun each, in turn."""
    result = RunReplayResult()
    for run in replay_originals(runs=runs):
        replay = _replay_claim(run, requested_by)
        if isinstance(replay, str):
            result.skipped.append(replay)
            continue
        try:
            new_run_id = run_rerun_request(run_id=run.run_id)
        except RerunError as error:
            replay.state, replay.reason = RunReplay.State.REFUSED, str(error)
            result.refused.append(replay)
        else:
            replay.state, replay.run_id = RunReplay.State.STARTED, new_run_id
            result.started.append(replay)
        replay.answered_at = timezone.now()
        replay.save(update_fields=["state", "reason", "run_id", "answered_at"])
    logger.info(
        "runs replayed",
        extra={"started": len(result.started), "refused": len(result.refused), "skipped": len(result.skipped)},
    )
    return result


def _replay_claim(run: JobRun, requested_by: str) -> RunReplay | str:
    """A `requested` RunReplay for `run`, or why there is none. The failed run's row lock makes the check and the
    insert one step for concurrent operators; it is released before the server is asked (no lock across HTTP)."""
    now = timezone.now()
    with transaction.atomic():
        locked = JobRun.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None:
            return f"run {run.run_id}: no longer recorded"
        refusal = replay_refusal(locked)
        if refusal is not None:
            return refusal
        stale = RunReplay.objects.filter(original=locked, state=RunReplay.State.REQUESTED)
        stale.update(state=RunReplay.State.REFUSED, reason="no answer was recorded for this request", answered_at=now)
        return RunReplay.objects.create(original=locked, requested_by=requested_by[:150], requested_at=now)


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


def failures_dismiss(*, runs: Iterable[JobRun], reason: str, dismissed_by: str) -> int:
    """Close failed runs that need no replay (e.g. the contact was deleted); the reason is kept on each run."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a dismissal needs a reason")
    ids = [run.pk for run in runs]
    return JobRun.objects.filter(pk__in=ids, status=JobRun.Status.FAILED, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now(), dismissed_by=dismissed_by[:150], dismissed_reason=reason
    )
