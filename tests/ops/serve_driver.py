"""A test-side Inngest executor: drives one run through the real serve endpoint over HTTP.

It speaks the call protocol of docs/inngest-engine.md (1.2-1.5, 1.9): discovery requests with the memoized steps,
retries of the same job with `attempt + 1` on StepError or a retriable 500, a memoized error after StepFailed,
durable sleeps, and on final failure the `inngest/function.failed` event to the function's `-failure` handler.
Delays are not waited for: the test decides what happens between requests through `between`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings


@dataclass
class DrivenRun:
    run_id: str
    status: str = "running"
    output: Any = None
    error: dict[str, Any] | None = None
    responses: list[tuple[int, Any]] = field(default_factory=list)
    failure_response: tuple[int, Any] | None = None


def wire_event(name: str, data: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"name": name, "data": data, "id": event_id, "ts": int(time.time() * 1000), "user": {}}


def drive_run(
    base_url: str,
    *,
    function_id: str,
    event: dict[str, Any],
    run_id: str,
    max_attempts: int,
    between: Callable[[int, Any], None] | None = None,
    max_requests: int = 50,
    redeliver: bool = False,
    serve_path: str = "/api/inngest",
) -> DrivenRun:
    """Run `function_id` for `event` to its end; `between(status, body)` is called after every response."""
    app_fn = f"{settings.INNGEST_APP_ID}-{function_id}"
    run = DrivenRun(run_id=run_id)
    steps: dict[str, Any] = {}
    stack: list[str] = []
    attempt = 0
    with httpx.Client(timeout=30) as http:
        for _ in range(max_requests):
            body = {
                "event": event,
                "events": [event],
                "steps": steps,
                "ctx": {
                    "fn_id": "00000000-0000-0000-0000-000000000000",
                    "run_id": run_id,
                    "env": "",
                    "step_id": "step",
                    "attempt": attempt,
                    "max_attempts": max_attempts,
                    "stack": {"stack": list(stack), "current": len(stack)},
                    "disable_immediate_execution": False,
                    "use_api": False,
                },
                "version": 2,
                "use_api": False,
            }
            url = f"{base_url}{serve_path}"
            response = http.post(url, params={"fnId": app_fn, "stepId": "step"}, json=body)
            if redeliver:  # the server re-sending the same request (a timeout on its side) must change nothing
                response = http.post(url, params={"fnId": app_fn, "stepId": "step"}, json=body)
            payload = response.json()
            run.responses.append((response.status_code, payload))
            if between is not None:
                between(response.status_code, payload)
            if response.status_code == 200:
                run.status, run.output = "completed", payload
                return run
            if response.status_code == 206:
                for op in payload:
                    if op["op"] == "StepRun":
                        steps[op["id"]] = {"data": op.get("data")}
                        stack.append(op["id"])
                        attempt = 0
                    elif op["op"] == "Sleep":
                        steps[op["id"]] = None
                        stack.append(op["id"])
                        attempt = 0
                    elif op["op"] == "StepFailed":
                        steps[op["id"]] = {"error": op["error"]}
                        stack.append(op["id"])
                        attempt = 0
                    elif op["op"] == "StepError":
                        attempt += 1
                    else:
                        raise AssertionError(f"unexpected opcode {op['op']}")
                continue
            no_retry = response.headers.get("x-inngest-no-retry") == "true"
            if no_retry or attempt + 1 >= max_attempts:
                run.status, run.error = "failed", payload
                failure = wire_event(
                    "inngest/function.failed",
                    {"function_id": app_fn, "run_id": run_id, "event": event, "events": [event], "error": payload},
                    run_id,
                )
                run.failure_response = call_failure(http, base_url, app_fn, failure)
                return run
            attempt += 1
    raise AssertionError("run did not finish")


def call_failure(http: httpx.Client, base_url: str, app_fn: str, failure: dict[str, Any]) -> tuple[int, Any]:
    body = {
        "event": failure,
        "events": [failure],
        "steps": {},
        "ctx": {
            "run_id": f"{failure['id']}-failure",
            "attempt": 0,
            "max_attempts": 1,
            "stack": {"stack": [], "current": 0},
            "disable_immediate_execution": False,
        },
        "version": 2,
        "use_api": False,
    }
    response = http.post(f"{base_url}/api/inngest", params={"fnId": f"{app_fn}-failure", "stepId": "step"}, json=body)
    return response.status_code, response.json()
