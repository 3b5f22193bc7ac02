"""Street against a local server that speaks its Open API (JSON:API, bearer token, enquiries/people/notes)."""

from __future__ import annotations

import pytest

from crm_adapters.base import CrmNote, NoteKind
from crm_adapters.errors import CrmAuthError, CrmRateLimited, CrmTransientError, CrmValidationError
from crm_adapters.models import CrmExternalId
from crm_adapters.services import crm_add_note, crm_push_contact, crm_verify_connection

pytestmark = pytest.mark.django_db


def test_create_sends_a_json_api_enquiry_with_the_bearer_token(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(
        tenant=tenant,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.co.uk",
        phone="07700 900123",
        consent_status="granted",
        category="seller",
    )

    result = crm_push_contact(connection=connection, contact=contact)

    assert result.outcome == "created" and result.via == "create"
    [lookup] = street.made("GET", "/people")
    assert lookup.query["filter[email]"] == "ada@example.co.uk"
    [enquiry] = street.made("POST", "/enquiries")
    assert enquiry.headers["Authorization"] == "Bearer street-test-token"
    assert enquiry.headers["Content-Type"] == "application/vnd.api+json"
    assert enquiry.headers["Accept"] == "application/vnd.api+json"
    attributes = enquiry.json["data"]["attributes"]
    assert enquiry.json["data"]["type"] == "enquiry"
    assert attributes["first_name"] == "Ada" and attributes["last_name"] == "Lovelace"
    assert attributes["email"] == "ada@example.co.uk" and attributes["phone"] == "07700 900123"
    assert attributes["marketing_consent"] is True
    [person] = street.with_email("ada@example.co.uk")
    assert result.external_id == person["id"]
    assert CrmExternalId.objects.get(connection=connection, contact=contact).external_id == person["id"]


def test_an_existing_person_found_by_email_is_mapped_not_created(street, connect, make_contact, tenant):
    connection = connect(street)
    street.people["77"] = {
        "type": "person",
        "id": "77",
        "attributes": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ADA@example.co.uk",
            "phone": "01865 000000",
            "address": "1 High St",
            "marketing_consent": False,
        },
    }
    contact = make_contact(tenant=tenant, email="ada@example.co.uk", consent_status="granted")

    result = crm_push_contact(connection=connection, contact=contact)

    assert (result.external_id, result.outcome, result.via) == ("77", "found", "email")
    assert street.made("POST", "/enquiries") == []
    assert street.made("PATCH", r"/people/.*") == []  # nothing blank to fill: the CRM wins


def test_blank_fields_in_street_are_filled_with_a_patch(street, connect, make_contact, tenant):
    connection = connect(street)
    street.people["78"] = {
        "type": "person",
        "id": "78",
        "attributes": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.co.uk",
            "phone": None,
            "address": None,
            "marketing_consent": None,
        },
    }
    contact = make_contact(
        tenant=tenant, first_name="Augusta", email="ada@example.co.uk", phone="07700 900123", consent_status="denied"
    )

    result = crm_push_contact(connection=connection, contact=contact)

    assert result.outcome == "updated"
    [patch] = street.made("PATCH", "/people/78")
    assert patch.json["data"]["type"] == "person" and patch.json["data"]["id"] == "78"
    attributes = street.people["78"]["attributes"]
    assert attributes["first_name"] == "Ada"  # theirs kept
    assert attributes["phone"] == "07700 900123" and attributes["marketing_consent"] is False


def test_a_second_push_uses_the_map_and_does_not_search_again(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant)
    first = crm_push_contact(connection=connection, contact=contact)

    second = crm_push_contact(connection=connection, contact=contact)

    assert (second.external_id, second.via, second.outcome) == (first.external_id, "map", "found")
    assert len(street.made("GET", "/people")) == 1
    assert len(street.made("GET", f"/people/{first.external_id}")) == 1
    assert len(street.made("POST", "/enquiries")) == 1


def test_validation_errors_carry_streets_field_messages(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant, last_name="")

    with pytest.raises(CrmValidationError) as raised:
        crm_push_contact(connection=connection, contact=contact)

    assert raised.value.status == 422
    assert raised.value.field_errors == [{"field": "last_name", "message": "can't be blank"}]
    assert "last_name" in str(raised.value)


def test_429_without_retry_after_waits_a_minute(street, connect, make_contact, tenant):
    connection = connect(street)
    street.fail("GET", "/people", 429)

    with pytest.raises(CrmRateLimited) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.retry_after == 60.0


def test_429_with_retry_after_uses_it(street, connect, make_contact, tenant):
    connection = connect(street)
    street.fail("GET", "/people", 429, headers={"Retry-After": "7"})

    with pytest.raises(CrmRateLimited) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(street, connect, make_contact, tenant, status):
    connection = connect(street)
    street.fail("POST", "/enquiries", status)

    with pytest.raises(CrmTransientError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.status == status and raised.value.retryable


def test_a_wrong_token_is_an_auth_error(street, connect, make_contact, tenant):
    connection = connect(street, secrets={"token": "not-the-token"})

    with pytest.raises(CrmAuthError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))


def test_a_note_targets_the_person(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant)
    note = CrmNote(kind=NoteKind.SEQUENCE_SUMMARY, subject="Nurture sequence ready", body="3 emails for a seller.")

    result = crm_add_note(connection=connection, contact=contact, note=note)

    [posted] = street.made("POST", "/notes")
    assert posted.json == {
        "data": {
            "type": "note",
            "attributes": {
                "body": "Nurture sequence ready\n\n3 emails for a seller.",
                "target_type": "person",
                "target_id": result.contact_external_id,
            },
        }
    }
    assert result.note_external_id == street.notes[0]["id"]


def test_verify_reads_one_page_of_people(street, connect):
    result = crm_verify_connection(connection=connect(street))

    assert result.provider == "street"
    [probe] = street.made("GET", "/people")
    assert probe.query == {"page[size]": "1"}


def test_an_answer_that_is_not_json_is_transient(street, connect, make_contact, tenant):
    connection = connect(street)
    street.fail("GET", "/people", 200, body="<html>maintenance</html>")

    with pytest.raises(CrmTransientError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
