"""agentOS (LetMC) against a local server that enforces its documented key, write path and rate limit."""

from __future__ import annotations

import pytest

from crm_adapters.base import CrmNote, NoteKind
from crm_adapters.errors import CrmAuthError, CrmRateLimited, CrmValidationError
from crm_adapters.services import crm_add_note, crm_push_contact, crm_verify_connection

pytestmark = pytest.mark.django_db

APPLICATION = "/v4/applications/prospects/createTenancyApplication"


def test_a_contact_is_sent_as_a_tenancy_application_with_the_api_key(agentos, connect, make_contact, tenant):
    connection = connect(agentos)
    contact = make_contact(
        tenant=tenant,
        first_name="Alan",
        last_name="Turing",
        email="alan@example.co.uk",
        phone="07700 900789",
        category="applicant",
    )

    result = crm_push_contact(connection=connection, contact=contact)

    [application] = agentos.made("POST", APPLICATION)
    assert application.headers["api_key"] == agentos.api_key
    assert application.json == {
        "BranchID": "BRANCH-1",
        "Forename": "Alan",
        "Surname": "Turing",
        "EmailAddress": "alan@example.co.uk",
        "Message": "Lead registered by NurtureHub (applicant).",
        "MobilePhone": "07700 900789",
    }
    assert (result.external_id, result.outcome) == ("email:alan@example.co.uk", "created")


def test_a_mapped_prospect_is_not_sent_again(agentos, connect, make_contact, tenant):
    connection = connect(agentos)
    contact = make_contact(tenant=tenant)
    crm_push_contact(connection=connection, contact=contact)

    again = crm_push_contact(connection=connection, contact=contact)

    assert (again.outcome, again.via) == ("found", "map")
    assert len(agentos.made("POST", APPLICATION)) == 1


def test_a_note_is_an_application_message_linked_to_the_same_prospect(agentos, connect, make_contact, tenant):
    connection = connect(agentos)
    contact = make_contact(tenant=tenant, email="alan@example.co.uk")
    crm_push_contact(connection=connection, contact=contact)
    note = CrmNote(kind=NoteKind.HOT_LEAD, subject="Hot lead", body="Booked a viewing.", key="alert:1")

    crm_add_note(connection=connection, contact=contact, note=note)

    assert len(agentos.prospects) == 1  # agentOS linked both applications to one prospect
    [prospect] = agentos.prospects.values()
    assert [a["Message"] for a in prospect["applications"]] == [
        "Lead registered by NurtureHub.",
        "NurtureHub: Hot lead\n\nBooked a viewing.",
    ]


def test_429_waits_sixty_seconds_and_stops_every_caller_from_hammering(agentos, connect, make_contact, tenant):
    connection = connect(agentos)
    agentos.limit.limit = 1  # the key's allowance is used up after one call

    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    with pytest.raises(CrmRateLimited) as first:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    calls_after_429 = len(agentos.requests)
    with pytest.raises(CrmRateLimited) as second:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert first.value.retry_after == 60.0
    assert 55 < second.value.retry_after <= 60.0  # our shared limiter holds the wait; nothing was sent
    assert len(agentos.requests) == calls_after_429
    assert agentos.blocked is False


def test_a_bad_key_is_an_auth_error(agentos, connect, make_contact, tenant):
    connection = connect(agentos, secrets={"api_key": "nope"})

    with pytest.raises(CrmAuthError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))


def test_400_model_state_becomes_field_errors(agentos, connect, make_contact, tenant):
    connection = connect(agentos)

    with pytest.raises(CrmValidationError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant, last_name=""))

    assert raised.value.status == 400
    assert raised.value.field_errors == [{"field": "Surname", "message": "The Surname field is required."}]


def test_verify_reads_the_branches(agentos, connect):
    result = crm_verify_connection(connection=connect(agentos))

    [call] = agentos.made("GET", r"/v4/advertising/.*")
    assert call.path == "/v4/advertising/oxfordlets/company/branches/0/100"
    assert result.extra == {"branches": 1}


def test_verify_with_an_unknown_company_is_not_found(agentos, connect):
    from crm_adapters.errors import CrmNotFound

    with pytest.raises(CrmNotFound):
        crm_verify_connection(connection=connect(agentos, config={"short_name": "nobody"}))
