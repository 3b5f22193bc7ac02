"""Agencies (tenants) and their members."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from tenants.models import Membership, Tenant
from tenants.pause_flags import paused_tenants


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


def agencies_jobs_pause(*, tenant_ids: list[Any], paused: bool) -> int:
    """Pause (or resume) the background work of these agencies; returns how many changed.

    A paused agency's runs do no work and wait in durable sleeps (jobs.functions.base); resuming lets them go on.
    """
    changed = Tenant.objects.filter(pk__in=tenant_ids).exclude(jobs_paused=paused).update(jobs_paused=paused)
    paused_tenants.invalidate()  # this process at once; the others by the trigger's NOTIFY at commit
    return changed
