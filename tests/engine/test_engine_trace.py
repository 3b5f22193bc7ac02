"""The run trace (a span per request and op) through selectors.run_trace and the dev server's GraphQL API at /v0/gql.

The GraphQL queries are the ones Inngest's Python SDK test suite sends (pkg/test_core/test_core/helper.py).
"""

from __future__ import annotations

import json

import httpx
import pytest

from jobs.engine.models import Run
from jobs.engine.selectors import run_trace

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]

RUN_QUERY = """
query GetRun($run_id: String!) {
    run(runID: $run_id) { output status trace { childrenSpans { name outputID childrenSpans { status } } } }
    runTrigger(runID: $run_id) { payloads }
}
"""
OUTPUT_QUERY = """
query GetHistory($output_id: String!) {
    runTraceSpanOutputByID(outputID: $output_id) { data error { message name stack } }
}
"""
EVENT_QUERY = """
query GetRunFromEventID($event_id: ID!) { event(query: {eventId: $event_id}) { functionRuns { id } } }
"""


def _gql(engine, query: str, variables: dict, **headers: str) -> httpx.Response:
    body = {"query": query, "variables": variables}
    return httpx.post(f"{engine.url}/v0/gql", json=body, headers=headers, timeout=30)


def _data(engine, query: str, variables: dict) -> dict:
    response = _gql(engine, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("errors") is None, body["errors"]
    return body["data"]


def test_a_retried_step_keeps_every_attempt_with_its_error_and_next_retry_time(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/flaky")

    (run,) = engine.wait_for_runs("-flaky", 1)
    spans = [span for span in run_trace(run.run_id) if span.step_name == "shaky"]
    assert [(span.attempt, span.status) for span in spans] == [(0, "retrying"), (1, "retrying"), (2, "completed")]
    assert spans[0].error["message"] == "transient failure on attempt 0"  # as the SDK sent it
    assert spans[1].error["message"] == "transient failure on attempt 1"
    assert all(span.retry_at is not None and span.retry_at > span.ended_at for span in spans[:2])
    assert spans[2].output == "finally" and spans[2].retry_at is None
    assert all(span.started_at <= span.ended_at for span in spans)


def test_graphql_gives_a_run_its_status_output_trigger_and_step_outputs(engine, recorder):
    engine.start_dispatcher()
    (event_id,) = engine.send_many([{"name": "test/flaky", "data": {"k": 1}}])

    (run,) = engine.wait_for_runs("-flaky", 1)
    data = _data(engine, RUN_QUERY, {"run_id": run.run_id})

    assert data["run"]["status"] == "COMPLETED"
    assert json.loads(data["run"]["output"]) == {"shaky": "finally"}
    trigger = json.loads(data["runTrigger"]["payloads"][0])
    assert trigger["name"] == "test/flaky" and trigger["data"] == {"k": 1}
    steps = data["run"]["trace"]["childrenSpans"]
    assert [step["name"] for step in steps] == ["before", "shaky", "after"]
    shaky = steps[1]
    assert [attempt["status"] for attempt in shaky["childrenSpans"]] == ["FAILED", "FAILED", "COMPLETED"]
    output = _data(engine, OUTPUT_QUERY, {"output_id": shaky["outputID"]})["runTraceSpanOutputByID"]
    assert output == {"data": '"finally"', "error": None}
    runs = _data(engine, EVENT_QUERY, {"event_id": event_id})["event"]["functionRuns"]
    assert runs == [{"id": run.run_id}]


def test_a_failed_runs_output_is_the_sdks_error_body_and_the_failed_step_output_is_its_error(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/always.fails")

    (run,) = engine.wait_for_runs("-always-fails", 1)
    data = _data(engine, RUN_QUERY, {"run_id": run.run_id})
    assert data["run"]["status"] == "FAILED"
    output = json.loads(data["run"]["output"])
    # Exactly the SDK's 500 body: its code, name, message and stack (Inngest stores the body as the output).
    assert output == run.error
    assert output["code"] == "step_errored" and output["name"] == "ValueError"
    assert set(output) == {"code", "message", "name", "stack"}
    doomed = next(step for step in data["run"]["trace"]["childrenSpans"] if step["name"] == "doomed")
    error = _data(engine, OUTPUT_QUERY, {"output_id": doomed["outputID"]})["runTraceSpanOutputByID"]["error"]
    assert error["name"] == "ValueError" and error["message"] == "this step never works"
    assert "Traceback" in error["stack"]


def test_the_function_failed_event_carries_the_error_as_inngest_shapes_it(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/always.fails")

    engine.wait_for_runs("-always-fails-failure", 1)
    (failure,) = recorder.failures
    error = failure["data"]["error"]
    # Inngest's StandardError (state/driver_response.go): the driver's error, name, message, stack; no `code`.
    assert set(error) == {"error", "name", "message", "stack"}
    assert error["error"] == "invalid status code: 500"
    assert error["name"] == "ValueError" and error["message"] == "this step never works"


def test_graphql_needs_the_signing_key_outside_development(engine, settings):
    settings.INNGEST_DEV = False
    settings.INNGEST_SIGNING_KEY = "signkey-prod-0123456789abcdef"

    refused = _gql(engine, EVENT_QUERY, {"event_id": "x"})
    allowed = _gql(engine, EVENT_QUERY, {"event_id": "x"}, Authorization=f"Bearer {settings.INNGEST_SIGNING_KEY}")

    assert refused.status_code == 401
    assert allowed.status_code == 200 and allowed.json()["data"] == {"event": None}


def test_an_unknown_run_is_null_in_graphql(engine):
    assert _data(engine, 'query { run(runID: "01NOPE") { status } }', {}) == {"run": None}
    assert Run.objects.count() == 0
