"""Reads that are more than a one-line query. Tenancy is always an explicit argument."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from .errors import ContactNotFound
from .models import CategoryAssignment, Contact, HotLeadAlert, Membership, Tenant


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


def hot_lead_alert_recent(*, tenant: Tenant, contact_id: UUID | str, cooldown_hours: int, now: datetime) -> bool:
    """Whether an alert for this contact fired within the cooldown (then no new one may fire)."""
    return HotLeadAlert.objects.filter(
        tenant=tenant, contact_id=contact_id, fired_at__gt=now - timedelta(hours=cooldown_hours)
    ).exists()


def hot_lead_alert_recipients(*, tenant: Tenant, contact: Contact) -> list[str]:
    """The assigned agent (if still a member with an address), else the owners and admins; plus the extras."""
    recipients: list[str] = []
    agent = tenant_member_get(tenant=tenant, user_id=contact.assigned_agent_id) if contact.assigned_agent_id else None
    if agent is not None and agent.email:
        recipients.append(agent.email)
    else:
        recipients.extend(tenant_recipients_for_alerts(tenant=tenant))
    for extra in tenant.alert_recipients or []:
        if extra and extra not in recipients:
            recipients.append(extra)
    return recipients
