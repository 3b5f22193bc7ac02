"""Writes and side effects for tenants and contacts. Keyword-only, typed, one transaction each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.emit import emit
from jobs.events import ContactCategoryAssigned

from .models import Category, CategoryAssignment, Contact, Membership, Tenant
from .selectors import contact_get, contact_get_by_email, tenant_member_get

CONTACT_FIELDS = frozenset(
    {"first_name", "last_name", "email", "phone", "address", "source", "consent_status", "assigned_agent_id"}
)


class ContactEmailTaken(ValueError):
    """Another contact of this agency already has this email address."""


class AgentNotInTenant(ValueError):
    """The assigned agent is not a member of this agency."""


def tenant_create(
    *,
    name: str,
    slug: str,
    brand_voice: str,
    owner: AbstractBaseUser | None = None,
    **settings: Any,
) -> Tenant:
    with transaction.atomic():
        tenant = Tenant(name=name, slug=slug, brand_voice=brand_voice, **settings)
        tenant.full_clean()
        tenant.save()
        if owner is not None:
            Membership.objects.create(user=owner, tenant=tenant, role=Membership.Role.OWNER)
    return tenant


def membership_add(*, tenant: Tenant, user: AbstractBaseUser, role: str = Membership.Role.AGENT) -> Membership:
    membership, _ = Membership.objects.update_or_create(tenant=tenant, user=user, defaults={"role": role})
    return membership


def _clean_contact_fields(*, tenant: Tenant, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - CONTACT_FIELDS
    if unknown:
        raise TypeError(f"unknown contact fields: {', '.join(sorted(unknown))}")
    cleaned = dict(fields)
    if "email" in cleaned:
        cleaned["email"] = cleaned["email"].strip()
    agent_id = cleaned.get("assigned_agent_id")
    if agent_id is not None and tenant_member_get(tenant=tenant, user_id=agent_id) is None:
        raise AgentNotInTenant(f"user {agent_id} is not a member of {tenant.slug}")
    return cleaned


def _save_contact(contact: Contact, *, update_fields: list[str] | None = None) -> Contact:
    contact.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            contact.save(update_fields=update_fields)
    except IntegrityError as error:
        if "contact_unique_email_per_tenant" in str(error):
            raise ContactEmailTaken(f"{contact.email} is already a contact of this agency") from error
        raise
    return contact


def contact_create(*, tenant: Tenant, **fields: Any) -> Contact:
    cleaned = _clean_contact_fields(tenant=tenant, fields=fields)
    if "consent_status" in cleaned:
        cleaned.setdefault("consent_updated_at", timezone.now())
    return _save_contact(Contact(tenant=tenant, **cleaned))


def contact_update(*, tenant: Tenant, contact: Contact, **fields: Any) -> Contact:
    if contact.tenant_id != tenant.id:
        raise PermissionError("contact belongs to another tenant")
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
    if contact.tenant_id != tenant.id:
        raise PermissionError("contact belongs to another tenant")
    if not contact.is_archived:
        contact.is_archived = True
        contact.archived_at = timezone.now()
        contact.save(update_fields=["is_archived", "archived_at", "updated_at"])
    return contact


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
    category = Category(category)
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
        previous = contact.category or None
        contact.category = category
        contact.save(update_fields=["category", "updated_at"])
        emit(
            ContactCategoryAssigned,
            {
                "tenant_id": tenant.id,
                "contact_id": contact.id,
                "category": category,
                "previous_category": previous,
                "assignment_id": assignment.id,
                "assigned_by": assigned_by.pk if assigned_by else None,
                "source": source,
                "assigned_at": now,
            },
            source=f"tenants:{source}",
        )
    return assignment
