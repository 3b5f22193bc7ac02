"""A CRM that echoes our secret back in a 422 body: no copy of it, whole, cut or encoded, reaches the error.

A raw local HTTP server plays the CRM, so the body can echo the key however a careless CRM would.
"""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from pytest_httpserver import HTTPServer

from crm_adapters.errors import CrmValidationError
from crm_adapters.loop.client import LoopClient
from crm_adapters.models import Provider
from tests.factories import CrmConnectionFactory

pytestmark = pytest.mark.django_db

SECRET = "loop/live+key=7f3a9c2e5b8d\\1f4a6c0e!"


@pytest.fixture
def loop_client(httpserver: HTTPServer, tenant):
    connection = CrmConnectionFactory(
        tenant=tenant,
        provider=Provider.LOOP,
        config={"base_url": httpserver.url_for("/api")},
        secrets={"api_key": SECRET},
    )
    client = LoopClient(connection)
    yield client
    client.close()


def _echoed_message(httpserver, loop_client, message: str) -> str:
    httpserver.expect_request("/api/contacts", method="POST").respond_with_json(
        {"errors": {"email": [message]}}, status=422
    )
    with pytest.raises(CrmValidationError) as raised:
        loop_client.create_contact({"email": "ada@example.co.uk"})
    return json.dumps(raised.value.field_errors) + str(raised.value)


def _no_piece_of(secret_form: str, text: str) -> bool:
    return not any(secret_form[start : start + 8] in text for start in range(len(secret_form) - 7))


def test_a_secret_crossing_the_500th_character_leaves_no_piece(httpserver, loop_client):
    text = _echoed_message(httpserver, loop_client, "x" * 472 + f"bad key {SECRET}")
    assert _no_piece_of(SECRET, text), text


@pytest.mark.parametrize(
    ("echo", "secret_part"),
    [
        # "ab:" is three bytes, so the secret starts a base64 group: all but its last character is the secret's.
        (base64.b64encode(f"ab:{SECRET}".encode()).decode(), base64.b64encode(SECRET.encode()).decode()[:-2]),
        (urllib.parse.quote(f"?key={SECRET}&x=1", safe=""), urllib.parse.quote(SECRET, safe="")),
        (json.dumps(json.dumps({"key": SECRET})), json.dumps(json.dumps(SECRET)[1:-1])[1:-1]),
    ],
    ids=["basic-auth-base64", "url-encoded", "json-escaped-twice"],
)
def test_an_encoded_secret_is_redacted(httpserver, loop_client, echo, secret_part):
    text = _echoed_message(httpserver, loop_client, f"refused {echo}")
    assert "[redacted]" in text
    assert _no_piece_of(secret_part, text), text
