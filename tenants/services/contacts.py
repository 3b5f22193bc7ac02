"""Contacts and their categories: create, update, archive, assign one category or many (the import's batches).

Every assignment writes a history row and emits `contact/category.assigned`, sent only after the transaction
commits; single and bulk assignment send the same payload (`category_assigned_data`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.emit import emit, emit_many
from jobs.events import ContactCategoryAssigned
from nurturehub.db import copy_insert
from tenants.errors import AgentNotInTenant, ContactEmailTaken, ContactOfAnotherTenant, UnknownCategory
from tenants.models import Category, CategoryAssignment, Contact, Tenant
from tenants.selectors import contact_get, contact_get_by_email, tenant_member_get

CONTACT_FIELDS = frozenset(
    {"first_name", "last_name", "email", "phone", "address", "source", "consent_status", "assigned_agent_id"}
)


def _clean_contact_fields(*, tenant: Tenant, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise TypeError(f"unknown contact fields: {', '.join(sorted(unknown))}")
    cleaned = dict(fields)
    if "email" in cleaned:
        cleaned["email"] = cleaned["email"].strip()
    agent_id = cleaned.get("assigned_agent_id")
    if agent_id is not None and tenant_member_get(tenant=tenant, user_id=agent_id) is None:
        message = f"user {agent_id} is not a member of {tenant.slug}"
        raise AgentNotInTenant(message, fields={"assigned_agent_id": [message]})
    return cleaned


def _save_contact(contact: Contact, *, update_fields: list[str] | None = None) -> Contact:
    contact.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            contact.save(update_fields=update_fields)
    except IntegrityError as error:
        if "contact_unique_email_per_tenant" in str(error):
            message = f"{contact.email} is already a contact of this agency"
            raise ContactEmailTaken(message, fields={"email": [message]}) from error
        raise
    return contact


def _check_tenant(*, tenant: Tenant, contact: Contact) -> None:
    if contact.tenant_id != tenant.id:
        raise ContactOfAnotherTenant()


def _category(value: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        raise UnknownCategory(f"{value!r} is not one of the twelve categories") from None


def contact_create(*, tenant: Tenant, **fields: Any) -> Contact:
    cleaned = _clean_contact_fields(tenant=tenant, fields=fields)
    if "consent_status" in cleaned:
        cleaned.setdefault("consent_updated_at", timezone.now())
    return _save_contact(Contact(tenant=tenant, **cleaned))


def contact_update(*, tenant: Tenant, contact: Contact, **fields: Any) -> Contact:
    _check_tenant(tenant=tenant, contact=contact)
    cleaned = _clean_contact_fields(tenant=tenant, fields=fields)
    changed = [name for name, value in cleaned.items() if getattr(contact, name) != value]
    if not changed:
        return contact
    for name in changed:
        setattr(contact, name, cleaned[name])
    if "consent_status" in changed:
        contact.consent_updated_at = timezone.now()
        changed.append("consent_updated_at")
    return _save_contact(contact, update_fields=[*changed, "updated_at"])


@dataclass(frozen=True)
class UpsertResult:
    contact: Contact
    outcome: str  # "created", "updated" or "unchanged"


def contact_upsert_by_email(*, tenant: Tenant, email: str, **fields: Any) -> UpsertResult:
    """Create the contact, or update the one with this email (case-insensitive) in this tenant."""
    existing = contact_get_by_email(tenant=tenant, email=email)
    if existing is None:
        return UpsertResult(contact_create(tenant=tenant, email=email, **fields), "created")
    before = {name: getattr(existing, name) for name in fields}
    contact = contact_update(tenant=tenant, contact=existing, **fields)
    changed = any(getattr(contact, name) != value for name, value in before.items())
    return UpsertResult(contact, "updated" if changed else "unchanged")


def contact_archive(*, tenant: Tenant, contact: Contact) -> Contact:
    _check_tenant(tenant=tenant, contact=contact)
    if not contact.is_archived:
        contact.is_archived = True
        contact.archived_at = timezone.now()
        contact.save(update_fields=["is_archived", "archived_at", "updated_at"])
    return contact


# --- categories ----------------------------------------------------------------------------------------------


def category_assigned_data(assignment: CategoryAssignment) -> dict[str, Any]:
    """The `contact/category.assigned` payload of a history row: one shape for single and bulk assignment."""
    return {
        "tenant_id": assignment.tenant_id,
        "contact_id": assignment.contact_id,
        "category": assignment.to_category,
        "previous_category": assignment.from_category or None,
        "assignment_id": assignment.pk,
        "assigned_by": assignment.assigned_by_id,
        "source": assignment.source,
        "assigned_at": assignment.assigned_at,
    }


def contact_assign_category(
    *,
    tenant: Tenant,
    contact_id: Any,
    category: str,
    assigned_by: AbstractBaseUser | None = None,
    source: str = CategoryAssignment.Source.MANUAL,
) -> CategoryAssignment | None:
    """Assign a category: history row + contact update + `contact/category.assigned`, in one transaction.

    The event is sent only once the transaction commits. Assigning the category the contact already has
    changes nothing and emits nothing (returns None), so re-running an import is harmless.
    """
    category = _category(category)
    if source not in CategoryAssignment.Source.values:
        raise ValidationError(f"unknown assignment source {source!r}")
    with transaction.atomic():
        contact = contact_get(tenant=tenant, contact_id=contact_id, for_update=True)
        if contact.category == category:
            return None
        now = timezone.now()
        CategoryAssignment.objects.filter(contact=contact, superseded_at__isnull=True).update(superseded_at=now)
        assignment = CategoryAssignment.objects.create(
            tenant=tenant,
            contact=contact,
            from_category=contact.category,
            to_category=category,
            assigned_by=assigned_by,
            source=source,
            assigned_at=now,
        )
        contact.category = category
        contact.save(update_fields=["category", "updated_at"])
        emit(ContactCategoryAssigned, category_assigned_data(assignment), source=f"tenants:{source}")
    return assignment


def contacts_assign_category_bulk(
    *,
    tenant: Tenant,
    assignments: list[tuple[Contact, str]],
    assigned_by: AbstractBaseUser | None = None,
    source: str = CategoryAssignment.Source.CSV_IMPORT,
) -> int:
    """Assign categories to many contacts: history rows + contact updates, then one batch of events after commit.

    Must run inside the caller's transaction (one per batch); the contacts are locked. Contacts that already
    have their category are skipped. The events carry the same payload as `contact_assign_category` sends.
    Returns how many categories changed.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("contacts_assign_category_bulk must run inside a transaction")
    wanted = {contact.pk: (contact, _category(category)) for contact, category in assignments}
    current = dict(
        Contact.objects.filter(tenant=tenant, pk__in=list(wanted)).select_for_update().values_list("pk", "category")
    )
    changes = [
        (contact, category, current[pk])
        for pk, (contact, category) in wanted.items()
        if pk in current and current[pk] != category
    ]
    if not changes:
        return 0
    now = timezone.now()
    _set_categories(tenant=tenant, changes=changes, now=now)
    category_assignments_record(
        tenant=tenant,
        changes=[(contact.pk, category, previous) for contact, category, previous in changes],
        assigned_by=assigned_by,
        source=source,
        now=now,
    )
    return len(changes)


def _set_categories(*, tenant: Tenant, changes: list[tuple[Contact, str, str]], now: datetime) -> None:
    """One UPDATE per category (at most twelve), not a CASE per row as bulk_update would write."""
    by_category: dict[str, list[Any]] = {}
    for contact, category, _ in changes:
        contact.category, contact.updated_at = category, now
        by_category.setdefault(category, []).append(contact.pk)
    for category, ids in by_category.items():
        Contact.objects.filter(tenant=tenant, pk__in=ids).update(category=category, updated_at=now)


def category_assignments_record(
    *,
    tenant: Tenant,
    changes: list[tuple[Any, str, str]],
    assigned_by: AbstractBaseUser | None,
    source: str,
    now: datetime,
    supersede: bool = True,
) -> None:
    """History rows (the previous one superseded) and one batch of events, sent after the caller commits.

    `changes` holds (contact id, new category, previous category); the contacts already carry the new category
    (the import COPYs new contacts with theirs, so it records them with `supersede=False`)."""
    if supersede:
        CategoryAssignment.objects.filter(
            contact_id__in=[contact_id for contact_id, _, _ in changes], superseded_at__isnull=True
        ).update(superseded_at=now)
    rows = [
        CategoryAssignment(
            tenant_id=tenant.pk,  # ids, not instances: the related descriptors cost more than the row (bench)
            contact_id=contact_id,
            from_category=previous,
            to_category=category,
            assigned_by=assigned_by,
            source=source,
            assigned_at=now,
        )
        for contact_id, category, previous in changes
    ]
    copy_insert(CategoryAssignment, rows, allocate_ids=True)
    emit_many(ContactCategoryAssigned, [category_assigned_data(row) for row in rows], source=f"tenants:{source}")
