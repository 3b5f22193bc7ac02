"""`manage.py import_contacts FILE --tenant SLUG [--category SLUG] [--dry-run]`: a CSV of any size, streamed."""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from tenants.imports import ImportFileError, ImportSummary, RowError, contacts_import, open_csv
from tenants.models import Category, Tenant


class Command(BaseCommand):
    help = (
        "Import contacts from a UTF-8 CSV (header row; email, first name, last name required; optional phone, "
        "address, category, assigned agent email). Upserts by email; safe to run again on the same file. Every "
        "bad line is reported with its number and skipped; only an unreadable header stops the import."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path to the CSV file")
        parser.add_argument("--tenant", required=True, help="the agency's slug")
        parser.add_argument(
            "--category", choices=Category.values, help="category for rows whose category cell is empty"
        )
        parser.add_argument("--dry-run", action="store_true", help="validate and count; write and emit nothing")
        parser.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: object, **options: object) -> None:
        path = str(options["file"])
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant']!r}")
        if not os.path.isfile(path):
            raise CommandError(f"no such file: {path}")
        batch_size = int(options["batch_size"])
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        dry_run = bool(options["dry_run"])

        progress = tqdm(
            total=os.path.getsize(path),
            unit="B",
            unit_scale=True,
            desc="importing" if not dry_run else "checking",
            disable=bool(options["no_progress"]) or None,
            file=sys.stderr,
        )

        def report(error: RowError) -> None:
            progress.clear()
            self.stderr.write(f"line {error.line}: {error.reason}")

        try:
            with open_csv(path) as stream:

                def advance(_: ImportSummary) -> None:
                    progress.update(stream.tell() - progress.n)  # bytes read so far (constant memory)

                summary = contacts_import(
                    tenant=tenant,
                    stream=stream,
                    default_category=options["category"] or None,
                    dry_run=dry_run,
                    batch_size=batch_size,
                    on_error=report,
                    on_batch=advance,
                )
        except ImportFileError as error:
            progress.close()
            raise CommandError(f"{path}: {error}") from None
        progress.close()
        prefix = "DRY RUN (nothing written): " if dry_run else ""
        self.stdout.write(
            f"{prefix}{summary.rows} rows: {summary.created} created, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {summary.rejected} rejected; "
            f"{summary.categories_assigned} categories assigned, {summary.events_emitted} events emitted"
        )
