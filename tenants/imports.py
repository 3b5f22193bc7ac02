"""Bulk contact import from CSV: validate every row, upsert by email, assign categories in batches.

Memory stays constant: rows are read as a stream and handled in batches; each batch is one transaction (contacts,
category history rows and the `contact/category.assigned` events, which are sent only after it commits). Running
the same file again changes nothing and emits nothing for rows that are already as the file says, so an import
that was interrupted is finished by running it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from nurturehub.db import copy_insert

from .csv_reader import REQUIRED_COLUMNS, ImportFileError, RowError, open_csv, read_rows
from .models import Category, CategoryAssignment, Contact, Membership, Tenant
from .services import category_assignments_record, contacts_assign_category_bulk

# The reading side lives in csv_reader; these names are part of this module's interface (command, bench).
__all__ = ["ImportFileError", "ImportSummary", "RowError", "contacts_import", "open_csv", "read_rows"]

BATCH_SIZE = 1000
MAX_LENGTHS = {"first_name": 100, "last_name": 100, "email": 254, "phone": 40, "address": 2000}
CATEGORY_SLUGS = frozenset(Category.values)
CSV_SOURCE = str(Contact.Source.CSV_IMPORT)


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    categories_assigned: int = 0
    events_emitted: int = 0

    def add(self, other: ImportSummary) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ValidRow:
    line: int
    email: str
    fields: dict[str, Any]  # first_name, last_name, and the optional columns the file gives
    category: str | None


@dataclass
class Batch:
    valid: list[ValidRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def _validate(
    line: int, raw: dict[str, str], *, default_category: str | None, agents: dict[str, int]
) -> ValidRow | RowError:
    problems = []
    for column in REQUIRED_COLUMNS:
        if not raw.get(column):
            problems.append(f"{column.replace('_', ' ')} is required")
    email = raw.get("email", "")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"email {email!r} is not a valid address")
    for column, limit in MAX_LENGTHS.items():
        if len(raw.get(column, "")) > limit:
            problems.append(f"{column.replace('_', ' ')} is longer than {limit} characters")
    category = raw.get("category") or default_category
    if category and category not in CATEGORY_SLUGS:
        problems.append(f"unknown category {category!r}")
    agent_id = None
    if raw.get("agent_email"):
        agent_id = agents.get(raw["agent_email"].lower())
        if agent_id is None:
            problems.append(f"assigned agent {raw['agent_email']!r} is not a member of this agency")
    if problems:
        return RowError(line, "; ".join(problems))
    fields: dict[str, Any] = {"first_name": raw["first_name"], "last_name": raw["last_name"]}
    for column in ("phone", "address"):
        if raw.get(column):
            fields[column] = raw[column]  # a blank optional cell keeps what the contact has
    if agent_id is not None:
        fields["assigned_agent_id"] = agent_id
    return ValidRow(line=line, email=email, fields=fields, category=category or None)


def _batches(
    rows: Iterable[tuple[int, dict[str, str]] | RowError],
    *,
    default_category: str | None,
    agents: dict[str, int],
    size: int,
) -> Iterator[Batch]:
    """Rows validated and grouped; duplicates inside a batch are caught here, across batches by `_FirstLines`."""
    batch, seen = Batch(), {}
    for row in rows:
        batch.rows += 1
        result = row if isinstance(row, RowError) else _validate(*row, default_category=default_category, agents=agents)
        if isinstance(result, RowError):
            batch.errors.append(result)
        elif result.email.lower() in seen:
            first = seen[result.email.lower()]
            batch.errors.append(RowError(result.line, f"duplicate email {result.email!r} (also on line {first})"))
        else:
            seen[result.email.lower()] = result.line
            batch.valid.append(result)
        if batch.rows >= size:
            yield batch
            batch, seen = Batch(), {}
    if batch.rows:
        yield batch


class _FirstLines:
    """Where each email first appeared in the file, kept in a temporary table: a duplicate anywhere in the file
    is reported (a later batch used to overwrite an earlier row) while memory stays one batch."""

    table = "import_contacts_first_lines"

    def __enter__(self) -> _FirstLines:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.table} (email text PRIMARY KEY, line integer)")
            cursor.execute(f"TRUNCATE {self.table}")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    def claim(self, batch: Batch) -> None:
        """Record the batch's emails; a row whose email an earlier batch had becomes an error naming that line."""
        if not batch.valid:
            return
        emails = [row.email.lower() for row in batch.valid]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (email, line) SELECT * FROM unnest(%s::text[], %s::integer[]) "  # noqa: S608
                "ON CONFLICT (email) DO NOTHING RETURNING email",
                [emails, [row.line for row in batch.valid]],
            )
            fresh = {email for (email,) in cursor.fetchall()}
            if len(fresh) == len(emails):
                return
            cursor.execute(
                f"SELECT email, line FROM {self.table} WHERE email = ANY(%s)",  # noqa: S608 - our own table name
                [[email for email in emails if email not in fresh]],
            )
            first_line = dict(cursor.fetchall())
        kept = []
        for row in batch.valid:
            if row.email.lower() in fresh:
                kept.append(row)
            else:
                first = first_line[row.email.lower()]
                batch.errors.append(RowError(row.line, f"duplicate email {row.email!r} (also on line {first})"))
        batch.valid = kept
        batch.errors.sort(key=lambda error: error.line)


def _copy_new_contacts(*, tenant: Tenant, rows: list[ValidRow], now: Any) -> list[tuple[Any, str, str]]:
    """COPY the new contacts through one reused instance (a Model() per row costs as much as the insert);
    returns (contact id, category, previous category "") for those that get a category."""
    prototype = Contact(tenant_id=tenant.pk, source=CSV_SOURCE, created_at=now, updated_at=now)
    blanks = {name: getattr(prototype, name) for name in ("phone", "address", "assigned_agent_id", "category")}
    assigned: list[tuple[Any, str, str]] = []

    def filled() -> Iterator[Contact]:
        for row in rows:
            prototype.__dict__.update(blanks)
            prototype.__dict__.update(row.fields)
            prototype.id, prototype.email = uuid.uuid4(), row.email
            if row.category:
                prototype.category = row.category
                assigned.append((prototype.id, row.category, ""))
            yield prototype

    copy_insert(Contact, filled())
    return assigned


def _import_batch(*, tenant: Tenant, batch: Batch, dry_run: bool) -> ImportSummary:
    summary = ImportSummary(rows=batch.rows, rejected=len(batch.errors))
    if not batch.valid:
        return summary
    with transaction.atomic():
        emails = [row.email.lower() for row in batch.valid]
        existing = {
            contact.email_lower: contact
            for contact in Contact.objects.filter(tenant=tenant)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails)
            .select_for_update()
        }
        now = timezone.now()
        to_create: list[ValidRow] = []
        to_update: list[Contact] = []
        updated_fields: set[str] = set()
        assignments: list[tuple[Contact, str]] = []
        for row in batch.valid:
            contact = existing.get(row.email.lower())
            if contact is None:
                to_create.append(row)
                continue
            changed = [name for name, value in row.fields.items() if getattr(contact, name) != value]
            for name in changed:
                setattr(contact, name, row.fields[name])
            if changed:
                contact.updated_at = now
                to_update.append(contact)
                updated_fields.update(changed)
            if row.category and contact.category != row.category:
                assignments.append((contact, row.category))
        new_assignments = _copy_new_contacts(tenant=tenant, rows=to_create, now=now) if to_create else []
        if to_update:
            Contact.objects.bulk_update(to_update, [*sorted(updated_fields), "updated_at"])
        assigned = 0
        if new_assignments:
            source = CategoryAssignment.Source.CSV_IMPORT
            category_assignments_record(
                tenant=tenant, changes=new_assignments, assigned_by=None, source=source, now=now, supersede=False
            )
            assigned += len(new_assignments)
        if assignments:
            assigned += contacts_assign_category_bulk(tenant=tenant, assignments=assignments)
        if dry_run:
            transaction.set_rollback(True)  # the events were only logged in this transaction: nothing is sent
    updated = {id(contact) for contact in to_update} | {id(contact) for contact, _ in assignments}
    summary.created = len(to_create)
    summary.updated = len(updated)
    summary.unchanged = len(batch.valid) - summary.created - summary.updated
    summary.categories_assigned = assigned
    summary.events_emitted = 0 if dry_run else assigned
    return summary


def contacts_import(
    *,
    tenant: Tenant,
    stream: IO[bytes],
    default_category: str | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    on_error: Callable[[RowError], None] | None = None,
    on_batch: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Import a CSV byte stream (`open_csv`) into `tenant`. Every bad row is reported with its line and why
    (invalid value, duplicate anywhere in the file, bad encoding, NUL, oversized, broken quoting) and skipped;
    every good row goes in.

    Raises ImportFileError only when the header cannot be read, before anything is written.
    """
    if default_category is not None and default_category not in Category.values:
        raise ImportFileError(f"unknown category {default_category!r}; expected one of {', '.join(Category.values)}")
    agents = dict(
        Membership.objects.filter(tenant=tenant)
        .exclude(user__email="")
        .annotate(email_lower=Lower("user__email"))
        .values_list("email_lower", "user_id")
    )
    total = ImportSummary()
    rows = read_rows(stream)
    with _FirstLines() as first_lines:
        for batch in _batches(rows, default_category=default_category, agents=agents, size=batch_size):
            first_lines.claim(batch)
            for error in batch.errors:
                if on_error is not None:
                    on_error(error)
            result = _import_batch(tenant=tenant, batch=batch, dry_run=dry_run)
            total.add(result)
            if on_batch is not None:
                on_batch(result)
    return total
