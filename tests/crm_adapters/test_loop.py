"""Loop under the adapter's documented assumptions, including the real risk: the endpoint is not there."""

from __future__ import annotations

import pytest

from crm_adapters.base import CrmNote, NoteKind
from crm_adapters.errors import CrmAuthError, CrmConfigurationError, CrmNotFound, CrmValidationError
from crm_adapters.services import crm_add_note, crm_push_contact, crm_verify_connection
from tests.fakes.crm import FakeLoop

pytestmark = pytest.mark.django_db


@pytest.fixture
def missing_loop(start_fake):
    return start_fake(FakeLoop, api_available=False)


def test_verify_fails_clearly_when_the_endpoint_answers_404(missing_loop, connect):
    with pytest.raises(CrmNotFound) as raised:
        crm_verify_connection(connection=connect(missing_loop))

    message = str(raised.value)
    assert "404" in message and "/api/v1/contacts" in message and "base_url" in message


def test_verify_succeeds_against_the_assumed_api(loop, connect):
    result = crm_verify_connection(connection=connect(loop))

    [probe] = loop.made("GET", "/api/v1/contacts")
    assert probe.headers["Authorization"] == f"Bearer {loop.api_key}"
    assert "assumptions" in result.detail


def test_a_connection_without_base_url_is_a_configuration_error(loop, connect, make_contact, tenant):
    connection = connect(loop, config={"base_url": ""})

    with pytest.raises(CrmConfigurationError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert "base_url" in str(raised.value)


def test_create_then_find_by_email_then_update_blanks(loop, connect, make_contact, tenant):
    connection = connect(loop)
    contact = make_contact(tenant=tenant, email="kat@example.co.uk", category="landlord")

    created = crm_push_contact(connection=connection, contact=contact)
    loop.contacts[created.external_id]["phone"] = ""
    contact.phone = "07700 900321"
    contact.category = "seller"
    contact.save()
    updated = crm_push_contact(connection=connection, contact=contact)

    assert created.outcome == "created" and updated.outcome == "updated"
    [posted] = loop.made("POST", "/api/v1/contacts")
    assert posted.json["email"] == "kat@example.co.uk" and posted.json["category"] == "landlord"
    assert loop.contacts[created.external_id]["phone"] == "07700 900321"
    assert loop.contacts[created.external_id]["category"] == "seller"


def test_validation_and_auth_errors(loop, connect, make_contact, tenant, other_tenant):
    with pytest.raises(CrmValidationError) as invalid:
        crm_push_contact(connection=connect(loop), contact=make_contact(tenant=tenant, email="not-an-email"))
    with pytest.raises(CrmAuthError):
        crm_push_contact(
            connection=connect(loop, secrets={"api_key": "x"}, tenant=other_tenant),
            contact=make_contact(tenant=other_tenant),
        )

    assert invalid.value.field_errors == [{"field": "email", "message": "The email must be a valid email address."}]


def test_a_note_goes_to_the_contacts_notes(loop, connect, make_contact, tenant):
    connection = connect(loop)
    contact = make_contact(tenant=tenant)

    result = crm_add_note(
        connection=connection, contact=contact, note=CrmNote(kind=NoteKind.OTHER, subject="", body="Called back.")
    )

    assert loop.notes == [
        {
            "body": "Called back.",
            "type": "other",
            "id": result.note_external_id,
            "contact_id": result.contact_external_id,
        }
    ]
