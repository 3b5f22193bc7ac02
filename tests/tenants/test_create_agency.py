"""`manage.py create_agency`: the first agency, its owner and an API token that works, in production's way."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tenants.models import Membership, Tenant


def _create(*extra: str) -> str:
    out = StringIO()
    call_command(
        "create_agency",
        "--name=Harbour & Hale",
        "--slug=harbour-hale",
        "--brand-voice=Warm and local.",
        "--owner=olivia",
        "--owner-email=olivia@example.co.uk",
        *extra,
        stdout=out,
    )
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_the_agency_its_owner_and_a_working_token(monkeypatch):
    monkeypatch.setenv("AGENCY_OWNER_PASSWORD", "a long owner passphrase")
    output = _create("--token")

    tenant = Tenant.objects.get(slug="harbour-hale")
    membership = Membership.objects.get(tenant=tenant)
    assert (membership.user.username, membership.role) == ("olivia", Membership.Role.OWNER)
    assert membership.user.check_password("a long owner passphrase")
    assert tenant.email_delays_days == [0, 3, 7]
    key = re.search(r"^API token: (\w+)$", output, re.MULTILINE).group(1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/contacts/").status_code == 200


@pytest.mark.django_db
def test_without_a_password_the_owner_cannot_log_in_until_one_is_set(monkeypatch):
    monkeypatch.delenv("AGENCY_OWNER_PASSWORD", raising=False)
    output = _create()
    assert "manage.py changepassword olivia" in output
    assert not Membership.objects.get().user.has_usable_password()


@pytest.mark.django_db
def test_a_second_agency_with_the_same_slug_is_refused():
    _create()
    with pytest.raises(CommandError, match="already exists"):
        _create()
    assert Tenant.objects.count() == 1


@pytest.mark.django_db
def test_an_invalid_slug_names_the_field():
    with pytest.raises(CommandError, match="slug"):
        call_command("create_agency", "--name=X", "--slug=not a slug", "--brand-voice=V", "--owner=o")
    assert not Tenant.objects.exists()
