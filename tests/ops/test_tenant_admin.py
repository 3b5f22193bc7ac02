"""Per-tenant configuration in the admin: the CRM section keeps secrets write-only; "test connection" works."""

from __future__ import annotations

import pytest
from django.urls import reverse
from pytest_httpserver import HTTPServer

from tests.factories import CrmConnectionFactory
from tests.fakes.crm import FakeStreet

pytestmark = pytest.mark.django_db


@pytest.fixture
def street():
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    fake = FakeStreet(server=server).start()
    yield fake
    fake.stop()
    if server.is_running():
        server.stop()


@pytest.fixture
def superuser(make_user):
    return make_user(is_staff=True, is_superuser=True)


def test_tenant_page_shows_config_sections_and_never_the_secret(client, superuser, tenant, street):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets={"token": "s3cr3t-tok"})
    client.force_login(superuser)

    body = client.get(reverse("admin:tenants_tenant_change", args=[tenant.pk])).content.decode()

    for section in ("Brand voice", "Scoring and alerts", "Background jobs", "CRM connection"):
        assert section in body
    assert "jobs_paused" in body and "alert_recipients" in body and "alert_cooldown_hours" in body
    assert "s3cr3t-tok" not in body
    assert "token" in body  # the secret's name only
    assert reverse("admin:crm_adapters_crmconnection_test", args=[connection.pk]) in body
    assert f"tenant__id__exact={tenant.pk}" in body  # links to its failed runs


def test_test_connection_button_reports_success(client, superuser, tenant, street):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets=street.secrets())
    client.force_login(superuser)
    back = reverse("admin:tenants_tenant_change", args=[tenant.pk])

    response = client.post(
        reverse("admin:crm_adapters_crmconnection_test", args=[connection.pk]), {"next": back}, follow=True
    )

    assert response.redirect_chain[-1][0] == back
    assert "Connection OK" in response.content.decode()


def test_test_connection_button_reports_failure_without_leaking_the_secret(client, superuser, tenant, street):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets={"token": "wrong-tok"})
    client.force_login(superuser)

    response = client.post(reverse("admin:crm_adapters_crmconnection_test", args=[connection.pk]), follow=True)

    body = response.content.decode()
    assert "Connection test failed (CrmAuthError)" in body
    assert "wrong-tok" not in body


def test_test_connection_needs_post_and_change_permission(client, make_user, tenant, street):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config())
    client.force_login(make_user(is_staff=True))
    url = reverse("admin:crm_adapters_crmconnection_test", args=[connection.pk])
    assert client.post(url).status_code == 403
    assert street.requests == []  # the CRM was never called
