"""`manage.py crm_check TENANT`: a clear verdict for a working, a refused and a missing connection."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_adapters.models import CrmConnection
from tests.fakes.crm import FakeLoop

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("crm_check", *args, stdout=out)
    return out.getvalue()


def test_a_working_connection_says_ok(reapit, connect, tenant):
    connect(reapit)

    output = run(tenant.slug)

    assert "OK: Reapit answered for customer SBOX" in output
    assert "secrets set: client_id, client_secret" in output
    assert reapit.client_secret not in output
    assert "Connection status: active" in output


def test_refused_credentials_fail_with_advice_and_mark_the_connection(street, connect, tenant):
    connection = connect(street, secrets={"token": "expired-token-123"})
    out = StringIO()

    with pytest.raises(CommandError, match="does not work"):
        call_command("crm_check", tenant.slug, stdout=out)

    output = out.getvalue()
    assert "FAILED: CrmAuthError" in output and "replace the connection's secrets" in output
    assert "expired-token-123" not in output
    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ERROR


def test_a_loop_endpoint_that_is_missing_is_explained(start_fake, connect, tenant):
    connect(start_fake(FakeLoop, api_available=False))
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("crm_check", tenant.slug, stdout=out)

    assert "FAILED: CrmNotFound" in out.getvalue() and "base_url" in out.getvalue()


def test_unknown_tenant_and_missing_connection(tenant):
    with pytest.raises(CommandError, match="No tenant"):
        run("no-such-agency")
    with pytest.raises(CommandError, match="has no CRM connection"):
        run(tenant.slug)
