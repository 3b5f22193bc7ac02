"""The answers every provider's client reads through the shared base: a 4xx body that is not JSON, and a 2xx
create whose id did not come back. A raw local HTTP server plays the CRM, so the bodies can be anything.
"""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from crm_adapters.errors import CrmTransientError, CrmValidationError
from crm_adapters.loop.client import LoopClient
from crm_adapters.models import Provider
from tests.factories import CrmConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def loop_client(httpserver: HTTPServer, tenant):
    connection = CrmConnectionFactory(
        tenant=tenant,
        provider=Provider.LOOP,
        config={"base_url": httpserver.url_for("/api")},
        secrets={"api_key": "loop-key-1234"},
    )
    client = LoopClient(connection)
    yield client
    client.close()


def test_a_422_whose_body_is_not_json_is_a_validation_error_without_field_errors(httpserver, loop_client):
    httpserver.expect_request("/api/contacts", method="POST").respond_with_data(
        "<html>Unprocessable</html>", status=422, content_type="text/html"
    )

    with pytest.raises(CrmValidationError) as raised:
        loop_client.create_contact({"email": "ada@example.co.uk"})

    assert raised.value.field_errors == []
    assert str(raised.value) == "loop answered 422: the CRM rejected the data"


def test_a_422_with_json_field_messages_reads_them_through_the_provider_parser(httpserver, loop_client):
    httpserver.expect_request("/api/contacts", method="POST").respond_with_json(
        {"errors": {"email": ["is taken", "is odd"]}}, status=422
    )

    with pytest.raises(CrmValidationError) as raised:
        loop_client.create_contact({"email": "ada@example.co.uk"})

    assert raised.value.field_errors == [
        {"field": "email", "message": "is taken"},
        {"field": "email", "message": "is odd"},
    ]


def test_a_create_answered_without_an_id_is_transient_and_says_so(httpserver, loop_client):
    httpserver.expect_request("/api/contacts", method="POST").respond_with_json({"ok": True}, status=201)

    with pytest.raises(CrmTransientError) as raised:
        loop_client.create_contact({"email": "ada@example.co.uk"})

    assert str(raised.value) == "loop: the contact was created but its id did not come back"
    assert raised.value.status == 201
