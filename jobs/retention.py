"""History retention: old rows of the event log, runs, CRM sync log and the local engine, pruned in batches.

Each batch is one short transaction deleting at most `batch_size` rows picked by primary key, so pruning never
holds a lock the queue or the run tracking waits on for long. What is still in progress, or still needed, is
never pruned: `pending` events (the outbox), runs that are not finished, open failures (the worklist: a failure
leaves it only by a replay or a dismissal, never by age), the event-log rows those runs came from (payload,
lineage and replay source), and whatever the local engine keeps of its own: its tables are its business
(`jobs/engine/retention.py`), and this module only asks for them, through the app registry, when it is installed.

The daily cron (`jobs.functions.retention`) and `manage.py prune_history` both call `prune_table`; the serve
endpoint's replay records are pruned with them (`jobs.serve.forget_stale_signatures`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q

from .models import EventLog, JobRun


@dataclass(frozen=True)
class Table:
    """One prunable table: its name in settings and reports, and the rows old enough to go at `now`."""

    name: str
    stale: Callable[[datetime], models.QuerySet]


def _runs_still_needed() -> models.QuerySet:
    """Runs no age removes: unfinished (running, retrying) and open failures."""
    unfinished = JobRun.objects.filter(status__in=[JobRun.Status.RUNNING, JobRun.Status.RETRYING])
    return unfinished | JobRun.objects.failures_open()


def _event_log(now: datetime) -> models.QuerySet:
    """Old events, except the outbox and any event a run still needed came from (its payload is the replay's)."""
    cutoff = now - timedelta(days=settings.JOBS_RETENTION_DAYS)
    needed = _runs_still_needed().filter(event_log_id=OuterRef("pk"))
    return (
        EventLog.objects.filter(created_at__lt=cutoff).exclude(status=EventLog.Status.PENDING).exclude(Exists(needed))
    )


def _job_runs(now: datetime) -> models.QuerySet:
    """Finished runs (their step attempts go with them); a run still running or retrying stays, and so does an
    open failure however old."""
    cutoff = now - timedelta(days=settings.JOBS_RETENTION_DAYS)
    finished = [JobRun.Status.COMPLETED, JobRun.Status.FAILED, JobRun.Status.CANCELLED]
    return (
        JobRun.objects.filter(status__in=finished)
        .filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, started_at__lt=cutoff))
        .exclude(pk__in=JobRun.objects.failures_open().values("pk"))
    )


def _crm_sync_log(now: datetime) -> models.QuerySet:
    sync_log = apps.get_model("crm_adapters", "CrmSyncLog")
    return sync_log.objects.filter(created_at__lt=now - timedelta(days=settings.CRM_SYNC_LOG_RETENTION_DAYS))


def tables() -> list[Table]:
    """The prunable tables, in an order where a parent goes after the rows that point to it."""
    found = [
        Table("job_runs", _job_runs),
        Table("event_log", _event_log),
        Table("crm_sync_log", _crm_sync_log),
    ]
    if apps.is_installed("jobs.engine"):
        # The engine knows its own tables (jobs/engine/retention.py); it is asked through the app registry.
        engine = apps.get_app_config("engine")
        found += [Table(name, stale) for name, stale in engine.retention_tables().items()]
    return found


def prune_batch(table: str, *, now: datetime, batch_size: int) -> int:
    """Delete at most `batch_size` of the table's oldest prunable rows in one short transaction."""
    stale = next(candidate for candidate in tables() if candidate.name == table).stale
    with transaction.atomic():
        ids = list(stale(now).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return 0
        queryset = stale(now)
        # The filter is applied again in the DELETE: a row that became in progress meanwhile is kept.
        _, per_model = queryset.filter(pk__in=ids).delete()
        return per_model.get(queryset.model._meta.label, 0)


def prune_table(table: str, *, now: datetime, batch_size: int, max_batches: int | None = None) -> Iterator[int]:
    """Batches of one table until nothing is left to prune (or `max_batches`): yields each batch's count."""
    done = 0
    while max_batches is None or done < max_batches:
        deleted = prune_batch(table, now=now, batch_size=batch_size)
        done += 1
        yield deleted
        if deleted < batch_size:
            return
