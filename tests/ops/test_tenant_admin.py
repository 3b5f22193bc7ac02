"""Per-tenant configuration in the admin: the CRM section keeps secrets write-only; "test connection" works."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import CrmConnectionFactory
from tests.fakes.crm.street import FakeStreet

pytestmark = pytest.mark.django_db


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


def street_form(tenant, street, **fields):
    config = street.connection_config()
    return {
        "tenant": tenant.pk,
        "provider": "street",
        "status": "active",
        "street__base_url": config.get("base_url", ""),
        "street__secret__token": "",
        **fields,
    }


def test_test_connection_checks_the_typed_values_without_saving_and_answers_beside_the_button(
    client, superuser, tenant, street
):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets={"token": "expired"})
    client.force_login(superuser)
    url = reverse("admin:crm_adapters_crmconnection_test", args=[connection.pk])
    good_token = street.secrets()["token"]

    response = client.post(url, street_form(tenant, street, street__secret__token=good_token), HTTP_X_NH_FRAGMENT="1")

    body = response.content.decode()
    assert response.status_code == 200 and body.startswith('<span class="nh-test-ok">Connection OK')
    assert "not saved yet" in body and good_token not in body
    connection.refresh_from_db()
    assert connection.secrets == {"token": "expired"}  # nothing saved by a test

    failed = client.post(url, street_form(tenant, street), HTTP_X_NH_FRAGMENT="1").content.decode()
    assert failed.startswith('<span class="nh-test-failed">Connection test failed (CrmAuthError)')
    assert "expired" not in failed


@pytest.fixture
def elsewhere():
    """Another Street-speaking server: where a typed (unsaved) base URL could point a stored secret."""
    fake = FakeStreet().start()
    yield fake
    fake.stop()


def test_test_connection_sends_a_stored_secret_only_to_the_saved_endpoint(client, superuser, tenant, street, elsewhere):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets=street.secrets())
    client.force_login(superuser)
    url = reverse("admin:crm_adapters_crmconnection_test", args=[connection.pk])

    moved = client.post(url, street_form(tenant, street, street__base_url=elsewhere.url), HTTP_X_NH_FRAGMENT="1")

    body = moved.content.decode()
    assert body.startswith('<span class="nh-test-failed">Not tested: API token: Type it again'), body
    assert elsewhere.requests == [] and street.requests == []
    # Typed again, it goes where the form says.
    typed = street_form(tenant, street, street__base_url=elsewhere.url, street__secret__token=elsewhere.token)
    assert "Connection OK" in client.post(url, typed, HTTP_X_NH_FRAGMENT="1").content.decode()
    assert elsewhere.requests and street.requests == []


def test_saving_a_new_base_url_needs_the_secret_typed_again(client, superuser, tenant, street, elsewhere):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets=street.secrets())
    client.force_login(superuser)
    change = reverse("admin:crm_adapters_crmconnection_change", args=[connection.pk])

    response = client.post(change, street_form(tenant, street, street__base_url=elsewhere.url))

    assert response.status_code == 200 and "Type it again" in response.content.decode()
    connection.refresh_from_db()
    assert connection.config == street.connection_config()


def test_test_connection_names_the_fields_a_form_is_missing(client, superuser, tenant, street):
    client.force_login(superuser)

    body = client.post(
        reverse("admin:crm_adapters_crmconnection_test_new"),
        {"tenant": tenant.pk, "provider": "loop", "status": "active"},
        HTTP_X_NH_FRAGMENT="1",
    ).content.decode()

    assert "Not tested:" in body and "Base URL: Required for this CRM." in body and "API key: Required" in body
    assert street.requests == []


def test_tenant_settings_are_rows_not_json(client, superuser, tenant):
    client.force_login(superuser)
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if name in form.fields and not isinstance(value, list | dict) and value is not None
    }
    data.update(
        {
            "brand_vocabulary": ["bespoke", "", "kerb appeal"],
            "alert_recipients": ["lettings@example.org"],
            "email_delays_days": ["0", "2", "9"],
            "category_multipliers__vendor": "1.5",
            "category_multipliers__seller": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "crm_connection-TOTAL_FORMS": "0",
            "crm_connection-INITIAL_FORMS": "0",
        }
    )

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    tenant.refresh_from_db()
    assert tenant.brand_vocabulary == ["bespoke", "kerb appeal"]
    assert tenant.alert_recipients == ["lettings@example.org"]
    assert tenant.email_delays_days == [0, 2, 9]
    assert tenant.category_multipliers == {"vendor": 1.5}

    data["alert_recipients"] = ["ok@example.org", "not an address"]
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert "Row 2: Enter a valid email address." in refused.content.decode()


def test_contact_page_shows_category_history_sequences_runs_and_crm_status(
    client, superuser, tenant, street, make_event_log, make_run
):
    from crm_adapters.models import CrmExternalId, CrmSyncLog
    from tenants.models import CategoryAssignment, NurtureSequence
    from tests.factories import ContactFactory

    contact = ContactFactory(tenant=tenant)
    other = ContactFactory(tenant=tenant)
    CategoryAssignment.objects.create(
        tenant=tenant, contact=contact, to_category="seller", source="api", assigned_at=timezone.now()
    )
    sequence = NurtureSequence.objects.create(tenant=tenant, contact=contact, category="seller", status="draft")
    run = make_run(event_log=make_event_log(tenant=tenant, contact_id=contact.pk))
    foreign_run = make_run(event_log=make_event_log(tenant=tenant, contact_id=other.pk))
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets=street.secrets())
    CrmExternalId.objects.create(connection=connection, contact=contact, external_id="ST-42")
    CrmSyncLog.objects.create(
        tenant=tenant,
        connection=connection,
        provider="street",
        entity="contact",
        internal_id=str(contact.pk),
        status="error",
        error_type="CrmTransientError",
        error="street answered 503",
    )
    client.force_login(superuser)

    body = client.get(reverse("admin:tenants_contact_change", args=[contact.pk])).content.decode()

    assert "Category assignments" in body or "category assignment" in body.lower()
    assert reverse("admin:tenants_nurturesequence_change", args=[sequence.pk]) in body
    assert reverse("admin:jobs_jobrun_change", args=[run.pk]) in body
    assert reverse("admin:jobs_jobrun_change", args=[foreign_run.pk]) not in body
    assert "ST-42" in body and "street answered 503" in body
    assert client.get(reverse("admin:tenants_nurturesequence_change", args=[sequence.pk])).status_code == 200


def test_the_connection_form_shows_status_and_agency_read_only_and_test_beside_save(
    client, superuser, tenant, other_tenant, street
):
    connection = CrmConnectionFactory(tenant=tenant, config=street.connection_config(), secrets=street.secrets())
    client.force_login(superuser)
    url = reverse("admin:crm_adapters_crmconnection_change", args=[connection.pk])

    body = client.get(url).content.decode()

    assert 'name="status"' not in body and 'name="tenant"' not in body
    submit_row = body.split('<div class="submit-row">', 1)[1].split("</div>", 1)[0]
    assert 'name="_save"' in submit_row and 'id="nh-test-connection"' in submit_row
    # A posted status or agency changes nothing: they are not the form's to edit.
    form = {
        "provider": "street",
        "street__base_url": street.connection_config()["base_url"],
        "status": "disabled",
        "tenant": other_tenant.pk,
        "_save": "Save",
    }
    client.post(url, form)
    connection.refresh_from_db()
    assert (connection.tenant_id, connection.status) == (tenant.pk, "active")
