"""Where a CRM's answer is shown (the admin's Test connection message, `crm_check`), no form of a secret is.

The CRM client redacts what it builds; these places redact again what they show, so that an error message
built anywhere else (a provider's own text) cannot carry a secret onto a screen.
"""

from __future__ import annotations

import base64
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from crm_adapters.errors import CrmError
from crm_adapters.models import Provider
from tests.factories import CrmConnectionFactory

pytestmark = pytest.mark.django_db

SECRET = "street-live-token-5e1f0c9a7b3d"


@pytest.fixture
def connection(tenant):
    return CrmConnectionFactory(tenant=tenant, provider=Provider.STREET, secrets={"token": SECRET})


def echoing_error() -> CrmError:
    encoded = base64.b64encode(SECRET.encode()).decode()
    return CrmError(f"street said: token {SECRET[:14]}... ({encoded}) is not valid", provider="street")


def assert_no_piece_of_the_secret(text: str) -> None:
    encoded = base64.b64encode(SECRET.encode()).decode()
    for form in (SECRET, encoded[:-2]):
        assert not any(form[start : start + 8] in text for start in range(len(form) - 7)), text


def test_crm_check_shows_the_failure_without_the_secret(tenant, connection):
    out = StringIO()
    with (
        mock.patch("crm_adapters.management.commands.crm_check.crm_verify_connection", side_effect=echoing_error()),
        pytest.raises(CommandError),
    ):
        call_command("crm_check", tenant.slug, stdout=out)
    assert "FAILED: CrmError" in out.getvalue()
    assert_no_piece_of_the_secret(out.getvalue())


def test_the_admins_test_connection_message_has_no_secret(admin_client, connection):
    url = reverse("admin:crm_adapters_crmconnection_test", args=[connection.pk])
    with mock.patch("crm_adapters.admin.crm_verify_connection", side_effect=echoing_error()):
        page = admin_client.post(url, follow=True)
    shown = " ".join(str(message) for message in page.context["messages"])
    assert "Connection test failed (CrmError)" in shown
    assert_no_piece_of_the_secret(shown)
