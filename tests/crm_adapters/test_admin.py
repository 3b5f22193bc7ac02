"""The sync log, external-id map and rate-limit buckets are readable in the admin and cannot be edited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm_adapters.errors import CrmAuthError
from crm_adapters.services import crm_push_contact

pytestmark = pytest.mark.django_db


def test_the_sync_log_lists_pushes_without_secrets(admin_client, street, connect, make_contact, tenant):
    connection = connect(street)
    street.fail("GET", "/people", 401)
    with pytest.raises(CrmAuthError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    result = crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    page = admin_client.get(reverse("admin:crm_adapters_crmsynclog_changelist"))

    html = page.content.decode()
    assert page.status_code == 200
    assert result.external_id in html and "CrmAuthError" in html
    assert street.token not in html


@pytest.mark.parametrize("model", ["crmsynclog", "crmexternalid", "crmratelimitbucket"])
def test_nothing_can_be_added_by_hand(admin_client, model):
    assert admin_client.get(reverse(f"admin:crm_adapters_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:crm_adapters_{model}_add")).status_code == 403
