"""`manage.py prune_history [--batch-size N]`: delete history older than the retention settings, now.

The same batches as the daily `history-prune` cron (jobs/retention.py): pending events, unfinished runs and
engine queue items are never deleted. Safe to interrupt and run again.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jobs.retention import prune_table, tables
from jobs.serve import forget_stale_signatures


class Command(BaseCommand):
    help = "Delete event log, run, CRM sync log and local-engine rows older than the retention settings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=None, help="rows per delete (default JOBS_RETENTION_BATCH_SIZE)"
        )

    def handle(self, *args: object, **options: object) -> None:
        # `is None`, not `or`: an explicit 0 is refused below, never read as "the default".
        given = options["batch_size"]
        batch_size = int(settings.JOBS_RETENTION_BATCH_SIZE if given is None else given)
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        now = timezone.now()
        for table in tables():
            deleted = sum(prune_table(table.name, now=now, batch_size=batch_size))
            self.stdout.write(f"{table.name}: {deleted} deleted")
        self.stdout.write(f"signed_requests: {forget_stale_signatures(now=now)} deleted")
