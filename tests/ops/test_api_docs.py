"""The API's docs pages are served by the project (no CDN), and the browsable API can switch agency."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import ContactFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "assets"),
    [("/api/docs/", "/static/drf_spectacular_sidecar/"), ("/api/redoc/", "/api/redoc/redoc.standalone.js")],
)
def test_docs_pages_load_their_assets_from_the_project(client, path, assets):
    body = client.get(path).content.decode()

    assert "/api/schema/" in body
    assert assets in body
    assert "cdn" not in body.lower() and "unpkg" not in body.lower()


def test_redoc_makes_no_outside_request(client):
    """An offline deployment's browser fetches nothing from outside: no web fonts, no Redocly logo."""
    page = client.get("/api/redoc/").content.decode()
    fetched = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert fetched and not [url for url in fetched if "//" in url], fetched

    (bundle_url,) = re.findall(r'<script src="([^"]+)"', page)
    bundle = client.get(bundle_url).content
    assert b"Redoc" in bundle and len(bundle) > 500_000  # the real bundle
    assert b"cdn.redoc.ly" not in bundle and b"fonts.googleapis" not in bundle


def test_the_docs_assets_exist_in_the_installed_sidecar():
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")


@pytest.fixture
def member_of_two(tenant, other_tenant):
    user = MembershipFactory(tenant=tenant).user
    MembershipFactory(user=user, tenant=other_tenant)
    return user


def test_a_member_of_two_agencies_switches_with_a_query_parameter(member_of_two, tenant, other_tenant):
    theirs = ContactFactory(tenant=other_tenant)
    ContactFactory(tenant=tenant)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member_of_two).key}")

    assert api.get("/api/v1/contacts/").status_code == 400
    response = api.get("/api/v1/contacts/", {"tenant": other_tenant.slug})
    assert [row["id"] for row in response.json()["results"]] == [str(theirs.id)]
    assert api.get("/api/v1/contacts/", {"tenant": "not-mine"}).status_code == 403


def test_the_browsable_api_offers_the_agency_switch(client, member_of_two, tenant, other_tenant):
    client.force_login(member_of_two)

    body = client.get("/api/v1/contacts/?tenant=" + tenant.slug, HTTP_ACCEPT="text/html").content.decode()

    assert 'id="nh-tenant-switch"' in body
    assert f"?tenant={other_tenant.slug}" in body and f"Agency: {tenant.slug}" in body
