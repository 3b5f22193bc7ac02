"""The frontend API: every endpoint, tenant isolation everywhere, cursor pagination, one error shape, the schema."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.models import EventLog
from tenants.models import CategoryAssignment, Contact, EngagementEvent
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def assert_error_shape(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "extra"} and isinstance(body["message"], str) and body["message"]
    return body


# --- authentication and membership ---------------------------------------------------------------------------


def test_anonymous_calls_get_401_in_the_error_shape(db):
    assert_error_shape(APIClient().get(f"{V1}/contacts/"), 401)


def test_user_without_membership_gets_403(make_user):
    client = APIClient()
    client.force_authenticate(make_user())
    assert_error_shape(client.get(f"{V1}/contacts/"), 403)


def test_session_authentication_works_too(client, member, tenant, make_contact):
    make_contact(tenant=tenant)
    client.force_login(member)
    assert client.get(f"{V1}/contacts/").status_code == 200


def test_member_of_two_agencies_chooses_with_the_header(api, member, tenant, other_tenant, make_contact):
    MembershipFactory(user=member, tenant=other_tenant)
    theirs = make_contact(tenant=other_tenant)
    assert_error_shape(api.get(f"{V1}/contacts/"), 400)
    response = api.get(f"{V1}/contacts/", HTTP_X_TENANT=other_tenant.slug)
    assert [row["id"] for row in response.json()["results"]] == [str(theirs.id)]
    assert_error_shape(api.get(f"{V1}/contacts/", HTTP_X_TENANT="not-mine"), 403)


# --- contacts --------------------------------------------------------------------------------------------------


def test_contacts_list_is_scoped_and_filtered(api, tenant, other_tenant, make_contact):
    seller = make_contact(tenant=tenant, category="seller", first_name="Olivia", intent_score=70)
    make_contact(tenant=tenant, category="landlord", first_name="George")
    make_contact(tenant=tenant, is_archived=True)
    make_contact(tenant=other_tenant, category="seller")

    def ids(**params):
        return {row["id"] for row in api.get(f"{V1}/contacts/", params).json()["results"]}

    assert len(ids()) == 2
    assert ids(category="seller") == {str(seller.id)}
    assert ids(q="olivia") == {str(seller.id)}
    assert ids(min_score=50) == {str(seller.id)}
    assert len(ids(archived="true")) == 1


def test_contacts_cursor_pagination_walks_every_row_once(api, tenant, make_contact):
    created = {str(make_contact(tenant=tenant).id) for _ in range(7)}
    seen, url, pages = [], f"{V1}/contacts/?page_size=3", 0
    while url:
        body = api.get(url).json()
        assert "cursor=" in (body["next"] or "cursor=")
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 3 and len(seen) == 7 and set(seen) == created


def test_create_contact_and_its_errors(api, tenant, other_tenant, member):
    response = api.post(
        f"{V1}/contacts/",
        {
            "first_name": "Amelia",
            "last_name": "Clarke",
            "email": "amelia@example.co.uk",
            "assigned_agent_id": member.pk,
        },
        format="json",
    )
    assert response.status_code == 201
    contact = Contact.objects.get(pk=response.json()["id"])
    assert contact.tenant_id == tenant.id and contact.assigned_agent_id == member.pk

    duplicate = api.post(
        f"{V1}/contacts/", {"first_name": "A", "last_name": "C", "email": "AMELIA@example.co.uk"}, format="json"
    )
    assert "email" in assert_error_shape(duplicate, 409)["extra"]["fields"]

    invalid = api.post(f"{V1}/contacts/", {"first_name": "A", "email": "not-an-email"}, format="json")
    fields = assert_error_shape(invalid, 400)["extra"]["fields"]
    assert {"email", "last_name"} <= set(fields)

    outsider = MembershipFactory(tenant=other_tenant).user
    wrong_agent = api.post(
        f"{V1}/contacts/",
        {"first_name": "A", "last_name": "C", "email": "x@example.co.uk", "assigned_agent_id": outsider.pk},
        format="json",
    )
    assert "assigned_agent_id" in assert_error_shape(wrong_agent, 400)["extra"]["fields"]
    assert Contact.objects.filter(email="x@example.co.uk").count() == 0


def test_update_and_archive_contact(api, tenant, make_contact):
    contact = make_contact(tenant=tenant)
    response = api.patch(f"{V1}/contacts/{contact.id}/", {"phone": "0117 496 0000"}, format="json")
    assert response.status_code == 200 and response.json()["phone"] == "0117 496 0000"

    archived = api.post(f"{V1}/contacts/{contact.id}/archive/")
    assert archived.status_code == 200 and archived.json()["is_archived"] is True
    assert api.get(f"{V1}/contacts/").json()["results"] == []
    contact.refresh_from_db()
    assert contact.is_archived


def test_assign_category_returns_202_and_emits_once(
    api, tenant, make_contact, event_api, django_capture_on_commit_callbacks
):
    contact = make_contact(tenant=tenant)
    url = f"{V1}/contacts/{contact.id}/category/"

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"category": "buy-to-let-investor"}, format="json")

    assert response.status_code == 202
    assert response.json()["changed"] is True and response.json()["assignment_id"]
    assert event_api.names() == ["contact/category.assigned"]
    assert event_api.received[0]["data"]["source"] == "api"

    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(url, {"category": "buy-to-let-investor"}, format="json")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert len(event_api.received) == 1

    assert (
        "category" in assert_error_shape(api.post(url, {"category": "realtor"}, format="json"), 400)["extra"]["fields"]
    )
    assert CategoryAssignment.objects.filter(contact=contact).count() == 1


def test_sequences_of_a_contact_with_their_emails(api, tenant, make_contact, make_sequence):
    contact = make_contact(tenant=tenant)
    make_sequence(contact=contact)
    body = api.get(f"{V1}/contacts/{contact.id}/sequences/").json()
    assert len(body["results"]) == 1
    assert [email["position"] for email in body["results"][0]["emails"]] == [1, 2, 3]


# --- engagement, alerts, runs ----------------------------------------------------------------------------------


def test_engagement_intake_uses_the_pipeline_service(
    api, tenant, make_contact, event_api, django_capture_on_commit_callbacks
):
    contact = make_contact(tenant=tenant)
    body = {
        "contact_id": str(contact.id),
        "kind": "email.click",
        "url": "https://agency.example.co.uk/book-valuation",
        "occurred_at": timezone.now().isoformat(),
        "provider_event_id": "esp-1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(f"{V1}/engagements/", body, format="json")
        second = api.post(f"{V1}/engagements/", body, format="json")

    assert first.status_code == 201 and second.status_code == 200
    assert EngagementEvent.objects.filter(tenant=tenant).count() == 1
    assert event_api.names() == ["lead/intent.score"]

    no_url = api.post(f"{V1}/engagements/", {**body, "url": "", "provider_event_id": "esp-2"}, format="json")
    assert "url" in assert_error_shape(no_url, 400)["message"]


def test_alerts_list_and_idempotent_acknowledge(api, tenant, make_contact, make_alert):
    alert = make_alert(contact=make_contact(tenant=tenant))
    assert [row["id"] for row in api.get(f"{V1}/alerts/", {"acknowledged": "false"}).json()["results"]] == [
        str(alert.id)
    ]

    url = f"{V1}/alerts/{alert.id}/acknowledge/"
    first = api.post(url, {"outcome": "contacted"}, format="json")
    assert first.status_code == 200 and first.json()["outcome"] == "contacted"
    again = api.post(url, {"outcome": "contacted"}, format="json")
    assert again.status_code == 200 and again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    assert_error_shape(api.post(url, {"outcome": "booked"}, format="json"), 409)
    assert api.get(f"{V1}/alerts/", {"acknowledged": "false"}).json()["results"] == []


def test_runs_of_the_tenant_with_steps_but_no_tracebacks(api, tenant, make_job_run):
    run = make_job_run(tenant=tenant)
    make_job_run(tenant=tenant, status="completed")

    listed = api.get(f"{V1}/runs/", {"status": "failed"}).json()["results"]
    assert [row["run_id"] for row in listed] == [run.run_id]
    assert listed[0]["error_message"] == "RateLimited: 429"

    detail = api.get(f"{V1}/runs/{run.run_id}/").json()
    assert detail["steps"][0]["step_id"] == "call-ai"
    assert "traceback" not in detail["steps"][0] and "internal details" not in str(detail)


# --- tenant isolation on every endpoint ------------------------------------------------------------------------


@pytest.fixture
def theirs(other_tenant, make_contact, make_alert, make_job_run, make_sequence):
    contact = make_contact(tenant=other_tenant, category="seller")
    make_sequence(contact=contact)
    return {"contact": contact, "alert": make_alert(contact=contact), "run": make_job_run(tenant=other_tenant)}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "contacts/{contact}/", None),
        ("patch", "contacts/{contact}/", {"phone": "1"}),
        ("post", "contacts/{contact}/archive/", None),
        ("post", "contacts/{contact}/category/", {"category": "landlord"}),
        ("get", "contacts/{contact}/sequences/", None),
        ("post", "alerts/{alert}/acknowledge/", {"outcome": "contacted"}),
        ("get", "runs/{run}/", None),
        ("post", "engagements/", {"contact_id": "{contact}", "kind": "email.open", "occurred_at": "2026-01-01T00:00Z"}),
    ],
)
def test_another_tenants_ids_are_404_and_nothing_changes(api, theirs, method, path, body):
    ids = {"contact": theirs["contact"].id, "alert": theirs["alert"].id, "run": theirs["run"].run_id}
    url = f"{V1}/{path.format(**ids)}"
    data = {key: value.format(**ids) if isinstance(value, str) else value for key, value in (body or {}).items()}

    response = getattr(api, method)(url, data, format="json") if body else getattr(api, method)(url)

    assert_error_shape(response, 404)
    theirs["contact"].refresh_from_db()
    theirs["alert"].refresh_from_db()
    assert theirs["contact"].category == "seller" and not theirs["contact"].is_archived
    assert theirs["contact"].phone == "" and theirs["alert"].acknowledged_at is None
    assert not EventLog.objects.exists() and not EngagementEvent.objects.exists()


@pytest.mark.parametrize("path", ["contacts/", "alerts/", "runs/"])
def test_lists_never_show_another_tenants_rows(api, theirs, path):
    assert api.get(f"{V1}/{path}").json()["results"] == []


@pytest.mark.parametrize(
    "path", ["contacts/not-a-uuid/", "contacts/6f1c2b7e-0000-4000-8000-000000000000/", "alerts/x/acknowledge/"]
)
def test_malformed_or_unknown_ids_are_404(api, path):
    response = (
        api.post(f"{V1}/{path}", {"outcome": "contacted"}, format="json") if "ack" in path else api.get(f"{V1}/{path}")
    )
    assert_error_shape(response, 404)


def test_an_unexpected_error_is_a_500_in_the_error_shape_without_internals(api, tenant, make_contact):
    contact = make_contact(tenant=tenant)
    with mock.patch("tenants.api.views.contact_archive", side_effect=RuntimeError("secret internals")):
        response = api.post(f"{V1}/contacts/{contact.id}/archive/")
    body = assert_error_shape(response, 500)
    assert "secret internals" not in str(body)


# --- schema ------------------------------------------------------------------------------------------------------


def test_schema_is_served_and_validates(api, tmp_path):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/v1/contacts/",
        "/api/v1/contacts/{contact_id}/category/",
        "/api/v1/alerts/{alert_id}/acknowledge/",
    ):
        assert path in schema["paths"]
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))


def test_every_operation_has_a_summary_a_description_and_its_errors(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]
    assert len(operations) >= 12
    for path, method, operation in operations:
        assert operation.get("summary") and operation.get("description"), (method, path)
        assert "400" in operation["responses"], (method, path)
