"""Bulk contact import from CSV: validate every row, upsert by email, assign categories in batches.

Memory stays constant: rows are read as a stream and handled in batches; each batch is one transaction (contacts,
category history rows and the `contact/category.assigned` events, which are sent only after it commits). Running
the same file again changes nothing and emits nothing for rows that are already as the file says, so an import
that was interrupted is finished by running it again.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from nurturehub.db import copy_insert

from .models import Category, CategoryAssignment, Contact, Membership, Tenant
from .services import category_assignments_record, contacts_assign_category_bulk

BATCH_SIZE = 1000
MAX_LENGTHS = {"first_name": 100, "last_name": 100, "email": 254, "phone": 40, "address": 2000}
# Accepted spellings of each column (lowercased, spaces and dashes read as underscores).
COLUMN_ALIASES = {
    "email": {"email", "email_address", "e_mail"},
    "first_name": {"first_name", "firstname", "forename", "given_name"},
    "last_name": {"last_name", "lastname", "surname", "family_name"},
    "phone": {"phone", "phone_number", "telephone", "mobile"},
    "address": {"address"},
    "category": {"category"},
    "agent_email": {"assigned_agent_email", "agent_email", "assigned_agent"},
}
REQUIRED_COLUMNS = ("email", "first_name", "last_name")
CATEGORY_SLUGS = frozenset(Category.values)
CSV_SOURCE = str(Contact.Source.CSV_IMPORT)


class ImportFileError(ValueError):
    """The file cannot be imported as a whole (missing columns, not UTF-8 CSV); the message says why."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


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


def _column_map(header: list[str]) -> dict[str, str]:
    normalised = {name: name.strip().lower().replace(" ", "_").replace("-", "_") for name in header}
    mapping: dict[str, str] = {}
    for column, aliases in COLUMN_ALIASES.items():
        for original, clean in normalised.items():
            if clean in aliases and column not in mapping:
                mapping[column] = original
    missing = [column.replace("_", " ") for column in REQUIRED_COLUMNS if column not in mapping]
    if missing:
        raise ImportFileError(f"line 1: missing required column(s): {', '.join(missing)} (header: {header})")
    return mapping


def read_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number where the row starts, {column: value}) for each data row, streamed."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty (a header row is required)") from None
    except UnicodeDecodeError as error:
        raise ImportFileError(f"line 1: the file is not UTF-8 ({error.reason})") from None
    columns = _column_map(header)
    positions = {column: header.index(name) for column, name in columns.items()}
    previous_end = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise ImportFileError(
                f"the file is not UTF-8 ({error.reason}) somewhere after line {previous_end}; the complete batches "
                "before that point are imported: fix the file and run again (rows already in are left unchanged)"
            ) from None
        except csv.Error as error:
            raise ImportFileError(f"line {reader.line_num}: unreadable CSV ({error})") from None
        start, previous_end = previous_end + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue  # blank line
        yield (
            start,
            {column: values[index].strip() if index < len(values) else "" for column, index in positions.items()},
        )


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
    rows: Iterable[tuple[int, dict[str, str]]], *, default_category: str | None, agents: dict[str, int], size: int
) -> Iterator[Batch]:
    batch, seen = Batch(), {}
    for line, raw in rows:
        batch.rows += 1
        result = _validate(line, raw, default_category=default_category, agents=agents)
        if isinstance(result, RowError):
            batch.errors.append(result)
        elif result.email.lower() in seen:
            first = seen[result.email.lower()]
            batch.errors.append(RowError(line, f"duplicate email {result.email!r} (also on line {first})"))
        else:
            seen[result.email.lower()] = line
            batch.valid.append(result)
        if batch.rows >= size:
            yield batch
            batch, seen = Batch(), {}
    if batch.rows:
        yield batch


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
    stream: IO[str],
    default_category: str | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    on_error: Callable[[RowError], None] | None = None,
    on_batch: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Import a CSV stream into `tenant`. Bad rows are reported (with their line) and skipped; good rows go in.

    Raises ImportFileError when the file as a whole cannot be read (batches already committed stay: re-run).
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
    for batch in _batches(read_rows(stream), default_category=default_category, agents=agents, size=batch_size):
        for error in batch.errors:
            if on_error is not None:
                on_error(error)
        result = _import_batch(tenant=tenant, batch=batch, dry_run=dry_run)
        total.add(result)
        if on_batch is not None:
            on_batch(result)
    return total


def open_csv(path: str) -> IO[str]:
    """A UTF-8 text stream of the file (a BOM is skipped); undecodable bytes raise while reading."""
    return open(path, encoding="utf-8-sig", newline="", errors="strict")
