"""The pure mapping functions: our contact <-> each CRM's JSON, and the CRM's error bodies -> field errors."""

from __future__ import annotations

import pytest

from crm_adapters.agentos import mapping as agentos
from crm_adapters.alto import mapping as alto
from crm_adapters.base import CrmContact, MarketingConsent, contact_fill_blanks
from crm_adapters.mapping import id_from_location
from crm_adapters.reapit import mapping as reapit
from crm_adapters.street import mapping as street

ADA = CrmContact(
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.co.uk",
    phones=("07700 900123", "01865 000000"),
    address="1 High Street, Oxford, OX1 1AA",
    marketing_consent=MarketingConsent.GRANTED,
    category="seller",
    internal_id="c-1",
)


def test_fill_blanks_keeps_the_crms_values_and_fills_only_its_gaps():
    remote = CrmContact(first_name="Augusta", last_name="", email="ada@example.co.uk")

    merged = contact_fill_blanks(remote=remote, ours=ADA)

    assert merged is not None
    assert (merged.first_name, merged.last_name) == ("Augusta", "Lovelace")
    assert merged.phones == ADA.phones and merged.marketing_consent == MarketingConsent.GRANTED


def test_fill_blanks_returns_none_when_nothing_would_change():
    remote = CrmContact(
        first_name="A",
        last_name="L",
        email="x@y.z",
        phones=("1",),
        address="a",
        marketing_consent="denied",
        category="seller",
    )

    assert contact_fill_blanks(remote=remote, ours=ADA) is None


def test_reapit_round_trip_keeps_names_phones_address_and_consent():
    body = reapit.contact_create_body(ADA, office_ids=["OXF"], negotiator_ids=["JAS"], category_ids={})

    assert body["primaryAddress"] == {"line1": "1 High Street", "line2": "Oxford", "postcode": "OX1 1AA"}
    assert (body["mobilePhone"], body["homePhone"]) == ADA.phones
    assert "categoryIds" not in body  # no mapping configured for our category
    back = reapit.contact_from_reapit({**body, "id": "RPT1"}, category_ids={})
    assert back == CrmContact(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.co.uk",
        phones=ADA.phones,
        address="1 High Street\nOxford\nOX1 1AA",
        marketing_consent=MarketingConsent.GRANTED,
    )


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://platform.reapit.cloud/contacts/RPT20000123", "RPT20000123"),
        ("/contacts/RPT1/", "RPT1"),
        ("/contacts/RPT1?x=1", "RPT1"),
        ("", None),
        (None, None),
    ],
)
def test_id_from_location(location, expected):
    assert id_from_location(location) == expected


def test_reapit_patch_adds_our_category_without_dropping_theirs():
    body = reapit.contact_patch_body(ADA, current_category_ids=["LAN"], category_ids={"seller": "VEN"})

    assert body["categoryIds"] == ["LAN", "VEN"]


def test_street_field_errors_take_the_pointer_s_last_segment():
    body = {"errors": [{"detail": "is invalid", "source": {"pointer": "/data/attributes/email"}}, {"title": "Bad"}]}

    assert street.field_errors(body) == [{"field": "email", "message": "is invalid"}, {"field": "", "message": "Bad"}]


def test_alto_field_errors_read_both_dotnet_and_list_forms():
    assert alto.field_errors({"errors": {"People[0].Surname": ["Required.", "Too short."]}}) == [
        {"field": "People[0].Surname", "message": "Required."},
        {"field": "People[0].Surname", "message": "Too short."},
    ]
    assert alto.field_errors({"errors": [{"propertyName": "BranchId", "errorMessage": "Unknown"}]}) == [
        {"field": "BranchId", "message": "Unknown"}
    ]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"ProspectID": "P-42"}, "P-42"),
        ("3fa85f64-5717-4562-b3fc-2c963f66afa6", "3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        ("Tenancy application created", "email:ada@example.co.uk"),
        (None, "email:ada@example.co.uk"),
    ],
)
def test_agentos_external_id(answer, expected):
    assert agentos.external_id_from_answer(answer, email="Ada@Example.co.uk") == expected


def test_every_client_shares_one_verified_tls_context():
    from crm_adapters.client import tls_context

    context = tls_context()

    assert context is tls_context()
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname
