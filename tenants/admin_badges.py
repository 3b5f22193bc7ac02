"""The paused badge, shown wherever an agency appears in the admin (its list and form, runs, run pages)."""

from __future__ import annotations

from django.utils.html import format_html

from .models import Tenant


def paused_badge(tenant: Tenant | None) -> str:
    """A red "jobs paused" badge for an agency whose background work is paused; "" otherwise."""
    if tenant is None or not tenant.jobs_paused:
        return ""
    return format_html(
        '<span class="nh-status nh-status-failed nh-paused" title="{}">jobs paused</span>',
        "Background work of this agency is paused: its runs wait until it is resumed.",
    )
