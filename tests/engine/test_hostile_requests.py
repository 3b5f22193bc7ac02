"""Hostile input to the engine's endpoints over real HTTP: a 4xx naming what was wrong (for a batch, which event),
never a 500, nothing stored. Each case answered 500 (or was accepted) before jobs/engine/request_checks.py."""

from __future__ import annotations

import json

import httpx
import pytest

from jobs.engine.models import Event, Function, Run
from tests.engine.register_body import assert_stored_with_config_error, register_body

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_SMALL = b"[" * 5000 + b"]" * 5000  # under the GraphQL body limit


def _query(fields: str) -> bytes:
    return json.dumps({"query": "{ " + fields + " }"}).encode()


def _post(live_server, path: str, content: bytes) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}{path}", content=content, headers={"Content-Type": "application/json"}, timeout=60
    )


INTAKE_CASES = {
    "nul-in-name": (b'[{"name": "a/\\u0000b"}]', "event [0]: `name`"),
    "surrogate-in-value": (b'[{"name": "a/b", "data": {"k": "\\ud800"}}]', "event [0]: `data.k`"),
    "nul-in-id": (b'[{"name": "a/b", "id": "x\\u0000"}]', "event [0]: `id`"),
    "nul-in-key": (b'[{"name": "a/b", "data": {"k\\u0000": 1}}]', "event [0]: `data`"),
    "nan": (b'[{"name": "a/b", "data": {"x": NaN}}]', "NaN"),
    "infinity": (b'[{"name": "a/b", "data": {"x": -Infinity}}]', "-Infinity"),
    "float-overflow": (b'[{"name": "a/b", "data": {"x": 1e400}}]', "out of range"),
    "int-out-of-range": (b'[{"name": "a/b", "data": {"x": 1000000000000000000000000000000}}]', "out of range"),
    "deep-nesting": (b'[{"name": "a/b", "data": {"x": ' + DEEP + b"}}]", "nested deeper than"),
    "second-event": (b'[{"name": "a/b"}, {"name": "a/b", "data": {"n": [1, "\\u0000"]}}]', "event [1]: `data.n[1]`"),
    "not-utf8": (b'[{"name": "a/\xff"}]', "not UTF-8"),
}


@pytest.mark.parametrize(("body", "message"), INTAKE_CASES.values(), ids=INTAKE_CASES.keys())
def test_hostile_events_get_a_400_naming_the_event_and_field(live_server, body, message):
    response = _post(live_server, "/e/any-key", body)

    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert response.json()["ids"] == []
    assert Event.objects.count() == 0 and Run.objects.count() == 0


REGISTER_CASES = {
    "retries-not-an-object": (
        {"steps": {"step": {"id": "step", "retries": 5, "runtime": {"type": "http", "url": "http://x"}}}},
        "`retries` must be an object",
    ),
    "concurrency-not-a-list": ({"concurrency": "lots"}, "concurrency"),
    "concurrency-limit-string": ({"concurrency": [{"limit": "1"}]}, "concurrency"),
    "debounce-not-an-object": ({"debounce": "5s"}, "debounce"),
    "debounce-period-overflow": ({"debounce": {"period": "99999999999999999999w"}}, "debounce `period`"),
    "timeout-overflow": ({"timeouts": {"start": "99999999999999999999w"}}, "timeouts"),
    "batch-size-absurd": ({"batchEvents": {"maxSize": 10**6, "timeout": "5s"}}, "`maxSize`"),
    "name-too-long": ({"name": "n" * 5000}, "name"),
    "event-name-too-long": ({"triggers": [{"event": "e" * 600}]}, "`event` is longer than 512"),
    "if-unknown-function": ({"triggers": [{"event": "a/b", "expression": "nosuch(event.data.x)"}]}, "nosuch"),
    "cancel-if-unknown-function": (
        {"cancel": [{"event": "a/c", "if": "nosuch(async.data.x) == event.data.x"}]},
        "nosuch",
    ),
}


@pytest.mark.parametrize(("overrides", "message"), REGISTER_CASES.values(), ids=REGISTER_CASES.keys())
def test_a_hostile_function_config_is_that_functions_error_naming_the_field(live_server, overrides, message):
    body = json.dumps(register_body(live_server, **overrides)).encode()
    response = _post(live_server, "/fn/register", body)

    assert_stored_with_config_error(response, "bad-app-fn", message)


WHOLE_SYNC_CASES = {
    "id-too-long": ({"id": "i" * 5000}, "id"),
    "nul-in-name": ({"name": "fn\u0000"}, "functions[0].name"),
}


@pytest.mark.parametrize(("overrides", "message"), WHOLE_SYNC_CASES.values(), ids=WHOLE_SYNC_CASES.keys())
def test_a_hostile_function_no_error_can_be_stored_for_gets_a_400_naming_the_field(live_server, overrides, message):
    body = json.dumps(register_body(live_server, **overrides)).encode()
    response = _post(live_server, "/fn/register", body)

    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert Function.objects.count() == 0


def test_a_sync_of_more_functions_than_the_limit_is_refused_before_any_write(live_server):
    body = register_body(live_server)
    template = body["functions"][0]
    body["functions"] = [{**template, "id": f"fn-{index}"} for index in range(501)]

    response = _post(live_server, "/fn/register", json.dumps(body).encode())

    assert response.status_code == 400, response.text
    assert "501 functions; the limit is 500" in response.json()["error"]
    assert Function.objects.count() == 0


RAW_REGISTER_CASES = {
    "deep-nesting": (b'{"appname": "a", "functions": ' + DEEP + b"}", "nested deeper than"),
    "nan": (b'{"appname": "a", "url": "http://x", "functions": [], "v": NaN}', "NaN"),
    "not-utf8": (b'{"appname": "\xff"}', "not UTF-8"),
    "url-too-long": (json.dumps({"appname": "a", "url": "http://x/" + "u" * 5000, "functions": []}).encode(), "url"),
}


@pytest.mark.parametrize(("body", "message"), RAW_REGISTER_CASES.values(), ids=RAW_REGISTER_CASES.keys())
def test_a_hostile_register_body_gets_a_400(live_server, body, message):
    response = _post(live_server, "/fn/register", body)

    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert Function.objects.count() == 0


@pytest.mark.parametrize("path", ["/v0/runs/r%00x/batch", "/v0/runs/r%00x/actions"])
def test_a_nul_in_a_run_id_is_a_400(live_server, path):
    response = httpx.get(f"{live_server.url}{path}", timeout=30)

    assert response.status_code == 400, response.text
    assert "run id" in response.json()["error"]


def test_a_nul_in_a_run_id_to_cancel_is_a_400(live_server):
    response = httpx.delete(f"{live_server.url}/v1/runs/r%00x", timeout=30)

    assert response.status_code == 400, response.text
    assert "run id" in response.json()["error"]


GQL_CASES = {
    "not-utf8": (b'{"query": "{ run(runID: \\"\xff\\") { id } }"}', "not UTF-8"),
    "deep-variables": (
        b'{"query": "query($v: String!) { run(runID: $v) { id } }", "variables": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "nested deeper than",
    ),
    "nul-in-id": (json.dumps({"query": '{ run(runID: "a\\u0000b") { id } }'}).encode(), "runID"),
    "nul-in-variable": (
        json.dumps({"query": "query($v: String!) { run(runID: $v) { id } }", "variables": {"v": "a\u0000"}}).encode(),
        "NUL",
    ),
    "aliases": (
        json.dumps({"query": "{ " + " ".join(f'a{i}: run(runID: "x") {{ id }}' for i in range(100)) + " }"}).encode(),
        "aliases",
    ),
    "depth": (
        json.dumps({"query": '{ event(query: {eventId: "x"}) {' + " functionRuns { id }" * 1 + " } " + "}"}).encode(),
        None,
    ),
    "introspection-flood": (
        json.dumps(
            {"query": "{ " + " ".join(f"s{i}: __schema {{ types {{ name }} }}" for i in range(100)) + " }"}
        ).encode(),
        "aliases",
    ),
    "tokens": (
        json.dumps({"query": "{ " + " ".join(f'a{i}: run(runID: "x") {{ id }}' for i in range(2000)) + " }"}).encode(),
        "tokens",
    ),
    "directives": (
        json.dumps({"query": '{ run(runID: "x") ' + "@include(if: true) " * 3000 + "{ id } }"}).encode(),
        "tokens",
    ),
}


@pytest.mark.parametrize(("body", "message"), GQL_CASES.values(), ids=GQL_CASES.keys())
def test_hostile_graphql_gets_a_4xx_or_a_graphql_error_never_a_500(live_server, body, message):
    response = _post(live_server, "/v0/gql", body)

    assert response.status_code < 500, response.text
    if message is None:  # an ordinary query, for contrast: answered
        assert response.status_code == 200 and "errors" not in response.json()
        return
    assert message in response.text
    assert "PostgreSQL" not in response.text and "psycopg" not in response.text  # never the driver's message


def test_a_graphql_body_over_the_limit_is_a_413(live_server):
    response = _post(
        live_server, "/v0/gql", json.dumps({"query": '{ run(runID: "x") { id } }', "pad": "x" * 2_000_000}).encode()
    )

    assert response.status_code == 413, response.text
