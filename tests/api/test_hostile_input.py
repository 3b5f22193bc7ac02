"""Hostile or careless input gets a 4xx in the error shape, never a 500 (each case was a 500 once)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from tenants.models import EngagementEvent

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def assert_client_error(response, status=400):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"message", "extra"} and body["message"]
    return body


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("contacts/", {"min_score": "\u00b2"}),  # "²".isdigit() is True, int("²") fails
        ("contacts/", {"assigned_agent_id": "\u00b2"}),
        ("contacts/", {"min_score": "ten"}),
        ("contacts/", {"category": "a\x00b"}),
        ("contacts/", {"category": "realtor"}),
        ("contacts/", {"q": "a\x00b"}),
        ("contacts/", {"archived": "maybe"}),
        ("alerts/", {"acknowledged": "maybe"}),
        ("runs/", {"status": "a\x00b"}),
        ("runs/", {"status": "exploded"}),
        ("runs/", {"function_id": "a\x00b"}),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, path, params):
    body = assert_client_error(api.get(f"{V1}/{path}", params))
    assert set(params) <= set(body["extra"]["fields"])


def test_an_agency_header_with_a_nul_is_a_400(api):
    assert_client_error(api.get(f"{V1}/contacts/", HTTP_X_TENANT="a\x00b"))


def test_a_run_id_with_a_nul_is_a_404(api):
    assert_client_error(api.get(f"{V1}/runs/%00/"), 404)


@pytest.fixture
def engagement(tenant, make_contact):
    contact = make_contact(tenant=tenant)
    return {"contact_id": str(contact.id), "kind": "email.open", "occurred_at": timezone.now().isoformat()}


@pytest.mark.parametrize(
    "raw_metadata",
    ['{"k": "a\\u0000b"}', '{"\\udc00": 1}', '{"k": ["x", {"deep": "\\ud800"}]}', '{"k\\u0000": 1}'],
)
def test_metadata_with_a_nul_or_a_lone_surrogate_is_a_400(api, engagement, raw_metadata):
    body = json.dumps(engagement)[:-1] + f', "metadata": {raw_metadata}}}'
    response = api.post(f"{V1}/engagements/", body, content_type="application/json")
    assert_client_error(response)
    assert not EngagementEvent.objects.exists()


@pytest.mark.parametrize("field", ["first_name", "last_name", "phone", "address"])
def test_a_lone_surrogate_in_a_contact_field_is_a_400(api, field):
    contact = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.co.uk"}
    body = json.dumps(contact)[:-1] + f', "{field}": "x\\udc00y"}}'
    assert_client_error(api.post(f"{V1}/contacts/", body, content_type="application/json"))


def test_deeply_nested_json_is_a_400(api):
    body = "[" * 100_000 + "]" * 100_000
    assert_client_error(api.post(f"{V1}/engagements/", body, content_type="application/json"))


def test_json_nested_past_the_depth_limit_is_a_400_before_any_view_work(api, settings, engagement):
    """Shallower than the parser's recursion limit, deeper than API_MAX_JSON_DEPTH: refused by the depth walk."""
    deep = "[" * (settings.API_MAX_JSON_DEPTH + 5) + "]" * (settings.API_MAX_JSON_DEPTH + 5)
    body = json.dumps(engagement)[:-1] + f', "metadata": {{"k": {deep}}}}}'
    assert (
        "nested deeper"
        in assert_client_error(api.post(f"{V1}/engagements/", body, content_type="application/json"))["message"]
    )
    assert not EngagementEvent.objects.exists()


def test_a_body_over_the_limit_is_a_413(api, settings):
    body = json.dumps({"first_name": "x" * (settings.API_MAX_BODY_BYTES + 10)})
    assert_client_error(api.post(f"{V1}/contacts/", body, content_type="application/json"), 413)


def test_a_10_mb_body_is_a_413(api):
    body = json.dumps({"first_name": "x" * 10_000_000})
    assert_client_error(api.post(f"{V1}/contacts/", body, content_type="application/json"), 413)


def test_a_timestamp_without_a_time_zone_is_a_400(api, engagement):
    naive = {**engagement, "occurred_at": "2026-03-01T10:00:00"}
    body = assert_client_error(api.post(f"{V1}/engagements/", naive, format="json"))
    assert "occurred_at" in body["extra"]["fields"]
    assert not EngagementEvent.objects.exists()


def test_an_uncategorised_contact_is_listed_with_a_category_the_schema_allows(api, tenant, make_contact):
    make_contact(tenant=tenant, category="")
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    field = schema["components"]["schemas"]["Contact"]["properties"]["category"]
    allowed = set()
    for option in field.get("oneOf", [field]):
        target = option
        if "$ref" in option:
            target = schema["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
        allowed |= set(target.get("enum", []))
    assert api.get(f"{V1}/contacts/").json()["results"][0]["category"] in allowed


def test_the_token_endpoints_400_is_documented_and_in_the_error_shape(db):
    from rest_framework.test import APIClient

    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "400" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert_client_error(client.post(f"{V1}/auth/token/", {"username": "x", "password": "y"}, format="json"))


@pytest.mark.parametrize("moment", ["0000-01-01T00:00:00Z", "2026-02-30T10:00:00Z", "2026-13-01T10:00:00+01:00"])
def test_a_timestamp_that_is_no_date_is_a_400_naming_the_field(api, engagement, moment):
    body = assert_client_error(api.post(f"{V1}/engagements/", {**engagement, "occurred_at": moment}, format="json"))
    assert "occurred_at" in body["extra"]["fields"]
