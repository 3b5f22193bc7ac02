"""Reapit Foundations against a local server that behaves as its documentation says."""

from __future__ import annotations

import base64
import threading
from urllib.parse import parse_qs

import pytest
from django.db import connection as db

from crm_adapters.base import CrmContact, CrmNote, NoteKind
from crm_adapters.errors import CrmAuthError, CrmRateLimited, CrmTransientError, CrmValidationError
from crm_adapters.factory import adapter_for
from crm_adapters.models import CrmConnection
from crm_adapters.reapit.client import ReapitClient
from crm_adapters.services import crm_add_note, crm_push_contact

pytestmark = pytest.mark.django_db


def test_token_is_fetched_with_basic_auth_and_reused_until_it_expires(reapit, connect, make_contact, tenant):
    connection = connect(reapit)

    for _ in range(3):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    [token_request] = reapit.made("POST", "/token")
    assert parse_qs(token_request.body.decode()) == {"grant_type": ["client_credentials"]}
    expected = base64.b64encode(f"{reapit.client_id}:{reapit.client_secret}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {expected}"
    assert reapit.tokens_issued == 1


def test_every_call_carries_the_bearer_version_and_customer_headers(reapit, connect, make_contact, tenant):
    crm_push_contact(connection=connect(reapit), contact=make_contact(tenant=tenant))

    api_calls = [r for r in reapit.requests if r.path != "/token"]
    assert api_calls
    for call in api_calls:
        assert call.headers["Authorization"].startswith("Bearer token-")
        assert call.headers["api-version"] == "2020-01-31"
        assert call.headers["reapit-customer"] == "SBOX"


def test_an_expired_token_is_refreshed_once_and_the_call_succeeds(reapit, connect, make_contact, tenant):
    connection = connect(reapit)
    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    reapit.expire_all_tokens()

    result = crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert result.outcome == "created"
    assert reapit.tokens_issued == 2


def test_the_token_is_renewed_before_its_lifetime_runs_out(reapit, connect, make_contact, tenant):
    reapit.token_lifetime = 30  # shorter than the renewal margin: every call needs a fresh token
    connection = connect(reapit)

    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert reapit.tokens_issued >= 2
    assert not [r for r in reapit.requests if r.path != "/token" and r.headers.get("Authorization") is None]


def test_create_posts_the_required_fields_and_reads_the_id_from_location(reapit, connect, make_contact, tenant):
    connection = connect(reapit, config={"category_ids": {"seller": "VEN"}, "source_id": "WEB"})
    contact = make_contact(
        tenant=tenant,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.co.uk",
        phone="07700 900123",
        address="1 High Street\nOxford\nOX1 1AA",
        consent_status="denied",
        category="seller",
    )

    result = crm_push_contact(connection=connection, contact=contact)

    [search] = reapit.made("GET", "/contacts")
    assert search.query["email"] == "ada@example.co.uk"
    [create] = reapit.made("POST", "/contacts")
    assert create.json == {
        "forename": "Ada",
        "surname": "Lovelace",
        "email": "ada@example.co.uk",
        "marketingConsent": "deny",
        "officeIds": ["OXF"],
        "negotiatorIds": ["JAS"],
        "source": {"type": "source", "id": "WEB"},
        "mobilePhone": "07700 900123",
        "primaryAddress": {"line1": "1 High Street", "line2": "Oxford", "postcode": "OX1 1AA"},
        "categoryIds": ["VEN"],
    }
    assert result.external_id in reapit.contacts


def test_update_sends_if_match_with_the_current_etag(reapit, connect, make_contact, tenant):
    connection = connect(reapit)
    reapit.contacts["RPT1"] = {
        "id": "RPT1",
        "_eTag": '"E1"',
        "forename": "",
        "surname": "Lovelace",
        "email": "ada@example.co.uk",
        "marketingConsent": "notAsked",
    }
    contact = make_contact(tenant=tenant, first_name="Ada", email="ada@example.co.uk", consent_status="granted")

    result = crm_push_contact(connection=connection, contact=contact)

    assert (result.external_id, result.outcome) == ("RPT1", "updated")
    [patch] = reapit.made("PATCH", "/contacts/RPT1")
    assert patch.headers["If-Match"] == '"E1"'
    assert reapit.contacts["RPT1"]["forename"] == "Ada"
    assert reapit.contacts["RPT1"]["surname"] == "Lovelace"
    assert reapit.contacts["RPT1"]["marketingConsent"] == "grant"


def test_a_stale_etag_is_read_again_and_the_update_reapplied(reapit, connect, make_contact, tenant):
    connection = connect(reapit)
    reapit.contacts["RPT2"] = {
        "id": "RPT2",
        "_eTag": '"E1"',
        "forename": "",
        "surname": "Lovelace",
        "email": "ada@example.co.uk",
        "marketingConsent": "notAsked",
    }
    contact = make_contact(tenant=tenant, first_name="Ada", email="ada@example.co.uk")
    adapter = adapter_for(connection)
    remote = adapter.find_contact_by_email("ada@example.co.uk")
    reapit.edit_in_crm("RPT2", mobilePhone="07700 900999")  # a negotiator edits it meanwhile
    edited_etag = reapit.contacts["RPT2"]["_eTag"]

    adapter.update_contact(remote, CrmContact.from_contact(contact))

    patches = reapit.made("PATCH", "/contacts/RPT2")
    assert [p.headers["If-Match"] for p in patches] == ['"E1"', edited_etag]
    assert reapit.contacts["RPT2"]["forename"] == "Ada"
    assert reapit.contacts["RPT2"]["mobilePhone"] == "07700 900999"  # their edit survives


def test_422_carries_reapits_field_errors(reapit, connect, make_contact, tenant):
    connection = connect(reapit, config={"office_ids": []})

    with pytest.raises(CrmValidationError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.field_errors == [{"field": "officeIds", "message": "At least one office is required"}]


def test_429_without_retry_after_waits_one_second(reapit, connect, make_contact, tenant):
    connection = connect(reapit)
    reapit.fail("GET", "/contacts", 429)

    with pytest.raises(CrmRateLimited) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.retry_after == 1.0


def test_wrong_client_secret_is_an_auth_error_and_marks_the_connection(reapit, connect, make_contact, tenant):
    connection = connect(reapit, secrets={"client_id": reapit.client_id, "client_secret": "wrong"})

    with pytest.raises(CrmAuthError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ERROR
    assert "refused" in connection.last_error


def test_a_wrong_customer_is_an_auth_error(reapit, connect, make_contact, tenant):
    connection = connect(reapit, config={"customer_id": "OTHER"})

    with pytest.raises(CrmAuthError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.status == 403


def test_token_endpoint_down_is_transient(reapit, connect, make_contact, tenant):
    connection = connect(reapit)
    reapit.fail("POST", "/token", 503)

    with pytest.raises(CrmTransientError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))


def test_a_note_is_a_journal_entry_on_the_contact(reapit, connect, make_contact, tenant):
    connection = connect(reapit, config={"journal_type_id": "NT"})
    contact = make_contact(tenant=tenant)
    note = CrmNote(kind=NoteKind.HOT_LEAD, subject="Hot lead", body="Score 85: clicked the valuation link.")

    result = crm_add_note(connection=connection, contact=contact, note=note)

    [entry] = reapit.made("POST", "/journalEntries")
    assert entry.json == {
        "typeId": "NT",
        "associatedType": "contact",
        "associatedId": result.contact_external_id,
        "description": "Hot lead\n\nScore 85: clicked the valuation link.",
        "negotiatorId": "JAS",
    }
    assert result.note_external_id == reapit.journal[0]["id"]


@pytest.mark.django_db(transaction=True)
def test_no_more_than_five_calls_in_flight_per_customer(reapit, connect, settings):
    # Bounds for a loaded machine, not measurements: a call must not time out or give up waiting for its slot.
    settings.CRM_HTTP_TIMEOUT = settings.CRM_HTTP_CONNECT_TIMEOUT = 60.0
    settings.CRM_RATE_LIMIT_MAX_WAIT = 120.0
    reapit.latency = 0.05
    connection = connect(reapit)
    errors: list[Exception] = []

    def worker() -> None:
        client = ReapitClient(CrmConnection.objects.get(pk=connection.pk))
        try:
            for _ in range(4):
                client.search_contacts(email="nobody@example.co.uk")
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            client.close()
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(reapit.made("GET", "/contacts")) == 48
    assert 2 <= reapit.max_in_flight <= 5
    assert reapit.tokens_issued == 1  # the twelve threads shared one token fetch
