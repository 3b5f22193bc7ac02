"""The tenants app's domain errors reach the client through one mapping (`tenants/api/errors.py`): each kind
has its status, and an error that is not a domain error (a bug) is a 500, never a 404."""

from __future__ import annotations

from unittest import mock

import pytest

from tenants import errors

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def _archive(api, contact, raising: Exception):
    with mock.patch("tenants.api.views.contact_archive", side_effect=raising):
        return api.post(f"{V1}/contacts/{contact.id}/archive/")


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (errors.ContactNotFound(), 404, "Not found."),
        (errors.ContactEmailTaken("a@b.co.uk is taken", fields={"email": ["taken"]}), 409, "a@b.co.uk is taken"),
        (errors.NotAMember(), 403, "Only a member of this agency may do this."),
        (errors.AgentNotInTenant(), 400, "The assigned agent is not a member of this agency."),
    ],
)
def test_each_kind_of_domain_error_has_its_status_and_message(api, tenant, make_contact, error, status, message):
    response = _archive(api, make_contact(tenant=tenant), error)

    assert response.status_code == status
    assert response.json() == {"message": message, "extra": {} if status == 404 else error.extra}


def test_a_key_error_in_a_service_is_a_500_not_a_404(api, tenant, make_contact, make_alert):
    alert = make_alert(contact=make_contact(tenant=tenant))

    with mock.patch("tenants.api.views.hot_lead_alert_acknowledge", side_effect=KeyError("outcome")):
        response = api.post(f"{V1}/alerts/{alert.id}/acknowledge/", {"outcome": "booked"}, format="json")

    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error.", "extra": {}}


def test_an_alert_acknowledged_otherwise_is_a_409_that_says_how(api, tenant, make_contact, make_alert):
    alert = make_alert(contact=make_contact(tenant=tenant))
    url = f"{V1}/alerts/{alert.id}/acknowledge/"
    first = api.post(url, {"outcome": "contacted"}, format="json").json()

    response = api.post(url, {"outcome": "booked"}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "message": "Already acknowledged with outcome 'contacted'.",
        "extra": {"outcome": "contacted", "acknowledged_at": mock.ANY},
    }
    assert response.json()["extra"]["acknowledged_at"][:19] == first["acknowledged_at"][:19]
