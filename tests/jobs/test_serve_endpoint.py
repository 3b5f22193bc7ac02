"""The Django serve endpoint answers Inngest's GET (introspection), PUT (sync) and verifies signatures in production."""

from __future__ import annotations

import json

import inngest.django
import pytest
from werkzeug import Request, Response

from jobs.client import _build
from jobs.functions import ALL_FUNCTIONS
from jobs.policy import FunctionCategory, policy_for
from tests.jobs.urls_production import call_body, sign


def test_get_answers_introspection_in_dev_mode(client):
    response = client.get("/api/inngest")
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "dev"
    assert body["function_count"] == len(ALL_FUNCTIONS)


def test_put_syncs_every_function_with_tenant_concurrency_and_retries(client, settings, httpserver):
    registered: list[dict] = []

    def register(request: Request) -> Response:
        registered.append(json.loads(request.data))
        return Response(json.dumps({"ok": True, "modified": True}), content_type="application/json")

    httpserver.expect_request("/fn/register", method="POST").respond_with_handler(register)
    # A serve endpoint configured exactly as jobs.client configures it in development, whose Inngest is the fake.
    dev_client = _build(("nurturehub", True, httpserver.url_for("/").rstrip("/"), "", ""))
    settings.ROOT_URLCONF = type("Urls", (), {"urlpatterns": [inngest.django.serve(dev_client, ALL_FUNCTIONS)]})

    response = client.put("/api/inngest", headers={"X-Inngest-Server-Kind": "dev"})

    assert response.status_code == 200
    assert len(registered) == 1
    assert registered[0]["url"].endswith("/api/inngest")
    functions = {fn["id"]: fn for fn in registered[0]["functions"]}
    assert set(functions) >= {fn.id for fn in ALL_FUNCTIONS}
    main = functions["nurturehub-contact-category-assigned"]
    assert main["triggers"] == [{"event": "contact/category.assigned"}]
    assert main["concurrency"] == [
        {"key": "event.data.tenantId", "limit": policy_for(FunctionCategory.ROUTING).tenant_concurrency}
    ]
    step = next(iter(main["steps"].values()))
    assert step["retries"]["attempts"] == policy_for(FunctionCategory.ROUTING).retries


@pytest.fixture
def production_urls(settings):
    settings.ROOT_URLCONF = "tests.jobs.urls_production"


def test_production_endpoint_rejects_unsigned_calls(client, production_urls):
    response = client.post(
        "/api/inngest?fnId=nurturehub-contact-category-assigned&stepId=step",
        data=call_body(),
        content_type="application/json",
    )
    assert response.status_code == 401


@pytest.mark.django_db
def test_production_endpoint_rejects_a_signature_made_with_another_key(client, production_urls):
    body = call_body()
    response = client.post(
        "/api/inngest?fnId=nurturehub-contact-category-assigned&stepId=step",
        data=body,
        content_type="application/json",
        headers={"X-Inngest-Signature": sign(body, key="signkey-prod-" + "cd" * 32)},
    )
    assert response.status_code == 401


@pytest.mark.django_db
def test_production_endpoint_accepts_a_correctly_signed_call(client, production_urls):
    body = call_body()
    response = client.post(
        "/api/inngest?fnId=nurturehub-contact-category-assigned&stepId=step",
        data=body,
        content_type="application/json",
        headers={"X-Inngest-Signature": sign(body)},
    )
    # Signature accepted: the function itself runs and refuses the empty payload (no retry), it is not a 401.
    assert response.status_code == 500
    assert response.json()["code"] == "non_retriable_error"
