"""Reads that are more than a one-line query. Tenancy is always an explicit argument."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from .models import CategoryAssignment, Contact, Membership, Tenant


class ContactNotFound(LookupError):
    """No such contact in this tenant (another tenant's contact is indistinguishable from a missing one)."""


def contact_get(*, tenant: Tenant, contact_id: UUID | str, for_update: bool = False) -> Contact:
    """The one way to fetch a contact by id: scoped to the tenant, so ids from other agencies never resolve."""
    queryset = Contact.objects.for_tenant(tenant)
    if for_update:
        queryset = queryset.select_for_update()
    try:
        return queryset.get(pk=contact_id)
    except (Contact.DoesNotExist, ValueError, ValidationError) as error:
        raise ContactNotFound(f"contact {contact_id} not found") from error


def contact_get_by_email(*, tenant: Tenant, email: str) -> Contact | None:
    return Contact.objects.for_tenant(tenant).filter(email__iexact=email.strip()).first()


def category_assignment_current(*, tenant: Tenant, contact: Contact) -> CategoryAssignment | None:
    return CategoryAssignment.objects.filter(tenant=tenant, contact=contact, superseded_at__isnull=True).first()


def tenant_member_get(*, tenant: Tenant, user_id: int) -> AbstractBaseUser | None:
    """The user if they belong to this tenant, else None."""
    membership = Membership.objects.select_related("user").filter(tenant=tenant, user_id=user_id).first()
    return membership.user if membership else None


def tenant_recipients_for_alerts(*, tenant: Tenant) -> list[str]:
    """The owners' and admins' addresses: who gets a hot-lead alert when no agent is assigned."""
    return list(
        Membership.objects.filter(tenant=tenant, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN])
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
