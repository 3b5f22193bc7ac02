"""CRM secrets at rest: the column never holds clear text; repr, str and the admin never show them."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import override_settings

from crm_adapters.crypto import SecretsUnreadable
from tests.factories import CrmConnectionFactory, UserFactory

SECRET = "sk-live-very-secret-4c0ffee"


@pytest.fixture
def crm(tenant):
    return CrmConnectionFactory(tenant=tenant, provider="agentos", secrets={"api_key": SECRET})


def test_the_database_column_holds_no_clear_text(crm):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets_encrypted::text, config::text FROM crm_adapters_crmconnection")
        raw_secret, raw_config = cursor.fetchone()
    assert SECRET not in raw_secret
    assert "api_key" not in raw_secret
    assert SECRET not in raw_config
    crm.refresh_from_db()
    assert crm.secrets == {"api_key": SECRET}


def test_repr_and_str_never_show_secrets(crm):
    assert SECRET not in repr(crm)
    assert SECRET not in str(crm)
    assert crm.secret_names == ["api_key"]


def test_rotated_out_key_gives_a_clear_error(crm):
    with override_settings(CRM_ENCRYPTION_KEYS=["ZmRrZ2pzZGZsa2dqc2RmbGtnanNkZmxrZ2pzZGZsa2c="]):
        crm.refresh_from_db()
        with pytest.raises(SecretsUnreadable, match="cannot be decrypted"):
            _ = crm.secrets


def test_key_rotation_keeps_old_secrets_readable(crm, settings):
    new_key = "ZmRrZ2pzZGZsa2dqc2RmbGtnanNkZmxrZ2pzZGZsa2c="
    settings.CRM_ENCRYPTION_KEYS = [new_key, *settings.CRM_ENCRYPTION_KEYS]
    crm.refresh_from_db()
    assert crm.secrets == {"api_key": SECRET}


def test_admin_change_page_never_renders_the_secret_and_blank_keeps_it(crm, client, caplog):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    with caplog.at_level(logging.DEBUG):
        page = client.get(f"/admin/crm_adapters/crmconnection/{crm.pk}/change/")
        assert page.status_code == 200
        assert SECRET not in page.content.decode()
        assert crm.secrets_encrypted not in page.content.decode()
        response = client.post(f"/admin/crm_adapters/crmconnection/{crm.pk}/change/", agentos_form(crm))
    assert response.status_code == 302
    crm.refresh_from_db()
    assert crm.secrets == {"api_key": SECRET}
    assert SECRET not in caplog.text


def agentos_form(crm, **fields):
    """The connection form as the admin posts it: agentOS's own fields, the secret left blank unless given."""
    return {
        "tenant": crm.tenant_id,
        "provider": "agentos",
        "status": "active",
        "agentos__short_name": "acme",
        "agentos__branch_id": "1",
        "agentos__secret__api_key": "",
        **fields,
    }


def test_admin_replaces_a_secret_typed_in_its_own_field(crm, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        f"/admin/crm_adapters/crmconnection/{crm.pk}/change/",
        agentos_form(crm, agentos__secret__api_key="rotated-key"),
    )
    assert response.status_code == 302
    crm.refresh_from_db()
    assert crm.secrets == {"api_key": "rotated-key"}
    assert crm.config["short_name"] == "acme" and crm.config["branch_id"] == "1"


def test_admin_refuses_a_connection_missing_the_providers_required_fields(crm, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        f"/admin/crm_adapters/crmconnection/{crm.pk}/change/", agentos_form(crm, agentos__short_name="")
    )
    assert response.status_code == 200
    assert "Required for this CRM." in response.content.decode()
    crm.refresh_from_db()
    assert crm.secrets == {"api_key": SECRET}
