"""Alto (Zoopla) against a local server that behaves as its documentation says."""

from __future__ import annotations

import pytest

from crm_adapters.base import CrmNote, NoteKind
from crm_adapters.errors import CrmAuthError, CrmRateLimited, CrmValidationError
from crm_adapters.models import CrmConnection, CrmExternalId
from crm_adapters.services import crm_add_note, crm_push_contact, crm_verify_connection

pytestmark = pytest.mark.django_db


def test_create_posts_people_and_lead_with_token_and_agency_ref(alto, connect, make_contact, tenant):
    connection = connect(alto)
    contact = make_contact(
        tenant=tenant, first_name="Grace", last_name="Hopper", email="grace@example.co.uk", phone="07700 900456"
    )

    result = crm_push_contact(connection=connection, contact=contact)

    assert (result.outcome, result.via) == ("created", "create")
    [create] = alto.made("POST", "/contacts")
    assert create.headers["Authorization"].startswith("Bearer token-")
    assert create.headers["AgencyRef"] == alto.agency_ref
    assert create.json == {
        "branchId": "BR-101",
        "people": [
            {
                "forename": "Grace",
                "surname": "Hopper",
                "emailAddresses": [{"address": "grace@example.co.uk"}],
                "phoneNumbers": [{"number": "07700 900456"}],
            }
        ],
        "lead": {"source": "NurtureHub"},
    }
    assert result.external_id in alto.contacts
    assert alto.made("GET", "/contacts") == []  # no undocumented search: Alto's 409 is the duplicate check


def test_a_409_duplicate_resolves_to_the_existing_contact(alto, connect, make_contact, tenant):
    connection = connect(alto)
    alto.contacts["ALT-9"] = {
        "id": "ALT-9",
        "branchId": "BR-101",
        "people": [{"forename": "Grace", "surname": "Hopper", "emailAddresses": [{"address": "grace@example.co.uk"}]}],
    }
    contact = make_contact(tenant=tenant, email="Grace@example.co.uk")

    result = crm_push_contact(connection=connection, contact=contact)

    assert (result.external_id, result.outcome, result.via) == ("ALT-9", "found", "conflict")
    assert len(alto.contacts) == 1
    assert CrmExternalId.objects.get(connection=connection, contact=contact).external_id == "ALT-9"


def test_a_wrong_agency_ref_is_an_auth_error(alto, connect, make_contact, tenant):
    connection = connect(alto, config={"agency_ref": "00000000-0000-0000-0000-000000000000"})

    with pytest.raises(CrmAuthError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.status == 403
    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ERROR


def test_an_expired_token_is_refreshed(alto, connect, make_contact, tenant):
    connection = connect(alto)
    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    alto.expire_all_tokens()

    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert alto.tokens_issued == 2
    assert len(alto.contacts) == 2


def test_422_carries_altos_field_messages(alto, connect, make_contact, tenant):
    connection = connect(alto)

    with pytest.raises(CrmValidationError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant, first_name=""))

    assert raised.value.field_errors == [{"field": "People[0].Forename", "message": "The Forename field is required."}]


def test_429_honours_retry_after_and_pauses_the_connection(alto, connect, make_contact, tenant):
    connection = connect(alto)
    alto.fail("POST", "/contacts", 429, headers={"Retry-After": "12"})
    with pytest.raises(CrmRateLimited) as from_alto:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    sent = len(alto.requests)

    with pytest.raises(CrmRateLimited) as from_our_limiter:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert from_alto.value.retry_after == 12.0
    assert 10 < from_our_limiter.value.retry_after <= 12.0
    assert len(alto.requests) == sent  # nothing reached Alto during the wait


def test_429_without_retry_after_waits_five_seconds(alto, connect, make_contact, tenant):
    connection = connect(alto)
    alto.fail("POST", "/contacts", 429)

    with pytest.raises(CrmRateLimited) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert raised.value.retry_after == 5.0


def test_a_note_is_a_file_note_on_the_contact(alto, connect, make_contact, tenant):
    connection = connect(alto)
    contact = make_contact(tenant=tenant)
    note = CrmNote(kind=NoteKind.SCORE_CHANGE, subject="Intent score 64 (warm)", body="Opened email 2 twice.")

    result = crm_add_note(connection=connection, contact=contact, note=note)

    [posted] = alto.made("POST", "/file-notes")
    assert posted.json == {
        "notes": "Intent score 64 (warm)\n\nOpened email 2 twice.",
        "contactIds": [result.contact_external_id],
        "fileNoteType": "General",
    }
    assert result.note_external_id == alto.file_notes[0]["id"]


def test_verify_lists_branches_and_warns_about_an_unknown_branch(alto, connect):
    result = crm_verify_connection(connection=connect(alto, config={"branch_id": "BR-999"}))

    assert result.extra == {"branches": 1}
    assert "BR-999" in result.detail
