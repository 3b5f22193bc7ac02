"""Which agency an API call acts for: the caller's membership, never a parameter it could forge."""

from __future__ import annotations

import re

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request

from tenants.models import Membership, Tenant

TENANT_HEADER = "X-Tenant"
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")
# The same choice as a query parameter: what the browsable API (which cannot set headers) uses to switch agency.
TENANT_QUERY_PARAMETER = "tenant"


def request_tenant(request: Request) -> Tenant:
    """The caller's tenant; a user in several agencies picks one with `X-Tenant: <slug>` (or `?tenant=<slug>`)."""
    cached = getattr(request, "_nurturehub_tenant", None)
    if cached is not None:
        return cached
    memberships = Membership.objects.filter(user=request.user).select_related("tenant")
    wanted = request.headers.get(TENANT_HEADER, "").strip()
    if wanted and not SLUG.fullmatch(wanted):
        # A NUL or 10 KB of text is no agency's slug, and must not reach the database as a query.
        raise exceptions.ParseError(f"The {TENANT_HEADER} header must be an agency slug (letters, digits, - and _).")
    wanted = (
        request.headers.get(TENANT_HEADER, "").strip() or request.query_params.get(TENANT_QUERY_PARAMETER, "").strip()
    )
    if wanted:
        memberships = memberships.filter(tenant__slug=wanted)
    found = list(memberships[:2])
    if not found:
        raise exceptions.PermissionDenied("You are not a member of this agency." if wanted else "No agency membership.")
    if len(found) > 1:
        raise exceptions.ParseError(
            f"You belong to several agencies: choose one with the {TENANT_HEADER} header "
            f"or ?{TENANT_QUERY_PARAMETER}=<slug>."
        )
    request._nurturehub_tenant = found[0].tenant
    return found[0].tenant


class TenantScoped:
    """Views whose every query goes through `self.tenant`, the caller's agency."""

    # Token first, so that a call without credentials gets 401 with `WWW-Authenticate: Token` (not 403).
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    request: Request

    @property
    def tenant(self) -> Tenant:
        return request_tenant(self.request)
