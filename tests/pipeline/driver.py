"""Runs the pipeline's functions through the real serve endpoint the way an Inngest server does, retries included.

Each request POSTs `?fnId=<app>-<fn>&stepId=step` with the event, the memoized step outputs so far and the run
context (attempt, max_attempts = the function's retries + 1). A 206 `StepRun` is memoized and the next request
starts again at attempt 0 (retries are per step); a 500 is retried unless it says `x-inngest-no-retry`, until
the attempts run out; then the function's `-failure` function runs with `inngest/function.failed`, as Inngest
does. Retry-after delays are recorded, not slept. Follow-on events that the fake event API received are
dispatched to the functions they trigger (`drain`), so one assignment can be followed through the pipeline.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import inngest
from django.test import Client

from jobs.events import Event
from jobs.functions import ALL_FUNCTIONS
from jobs.inngest_compat import DEFAULT_RETRIES, function_retries

_run_numbers = itertools.count(1)


@dataclass
class Attempt:
    attempt: int
    status: int
    retry_after_seconds: float | None = None
    no_retry: bool = False
    error: Any = None


@dataclass
class DrivenRun:
    function_id: str
    event: dict[str, Any]
    run_id: str
    status: str = "running"  # completed | failed
    output: Any = None
    steps: list[str] = field(default_factory=list)  # user step ids, in the order they completed
    failures: list[Attempt] = field(default_factory=list)  # every failed request, in order
    memos: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    failure_run: DrivenRun | None = None


def wire_event(event: Event, event_id: str | None = None) -> dict[str, Any]:
    return {
        "name": event.name,
        "data": event.to_wire(),
        "id": event_id or f"01TESTEVENT{next(_run_numbers):015d}",
        "ts": int(time.time() * 1000),
        "user": {},
    }


def functions_for(event_name: str) -> list[inngest.Function]:
    return [
        function
        for function in ALL_FUNCTIONS
        if any(getattr(trigger, "event", None) == event_name for trigger in function._triggers)
    ]


def function_by_id(function_id: str) -> inngest.Function:
    for function in ALL_FUNCTIONS:
        if function.id == function_id or function.local_id == function_id:
            return function
    raise KeyError(function_id)


class PipelineDriver:
    def __init__(self, client: Client, event_api: Any | None = None) -> None:
        self.client = client
        self.event_api = event_api
        self.runs: list[DrivenRun] = []
        self._dispatched = 0
        self._seen_event_ids: set[str] = set()

    # --- one run ---------------------------------------------------------------------------------------------
    def run(
        self,
        function_id: str,
        event: dict[str, Any],
        *,
        max_requests: int = 200,
        on_failure: Callable[[Attempt], None] | None = None,
    ) -> DrivenRun:
        """Run one function to its end; `on_failure` is called after each failed request (to heal a fault)."""
        function = function_by_id(function_id)
        retries = function_retries(function)
        max_attempts = (retries if retries is not None else DEFAULT_RETRIES) + 1
        run = DrivenRun(function_id=function.id, event=event, run_id=f"01TESTRUN{next(_run_numbers):017d}")
        self.runs.append(run)
        attempt = 0
        for _ in range(max_requests):
            status, body, headers = self._call(function.id, event, run, attempt=attempt, max_attempts=max_attempts)
            run.requests += 1
            if status == 200:
                run.status, run.output = "completed", body
                return run
            if status == 206:
                for op in body:
                    if op["op"] == "StepRun":
                        run.memos[op["id"]] = {"data": op.get("data")}
                        run.steps.append(op["displayName"])
                        attempt = 0
                    elif op["op"] == "StepError":
                        run.failures.append(Attempt(attempt, 206, error=op.get("error")))
                        attempt += 1
                    elif op["op"] == "StepFailed":
                        run.failures.append(Attempt(attempt, 206, no_retry=True, error=op.get("error")))
                        run.memos[op["id"]] = {"error": op.get("error")}
                        attempt = 0
                    else:
                        raise AssertionError(f"the pipeline does not use opcode {op['op']}")
                continue
            no_retry = headers.get("x-inngest-no-retry") == "true"
            delay = _retry_after_seconds(headers.get("retry-after"))
            run.failures.append(Attempt(attempt, status, delay, no_retry, body))
            if on_failure is not None:
                on_failure(run.failures[-1])
            attempt += 1
            if no_retry or attempt >= max_attempts:
                run.status, run.output = "failed", body
                if function.on_failure_fn_id:
                    run.failure_run = self._run_failure_handler(function, run, body)
                return run
        raise AssertionError(f"{function.id} did not finish in {max_requests} requests")

    def _run_failure_handler(self, function: inngest.Function, run: DrivenRun, error: Any) -> DrivenRun:
        failed_event = {
            "name": "inngest/function.failed",
            "id": run.run_id,
            "ts": int(time.time() * 1000),
            "user": {},
            "data": {
                "function_id": function.id,
                "run_id": run.run_id,
                "event": run.event,
                "events": [run.event],
                "error": error if isinstance(error, dict) else {"message": str(error)},
            },
        }
        failure = DrivenRun(function_id=function.on_failure_fn_id, event=failed_event, run_id=f"{run.run_id}F")
        for _ in range(20):
            status, body, _ = self._call(function.on_failure_fn_id, failed_event, failure, attempt=0, max_attempts=1)
            failure.requests += 1
            if status == 206:
                for op in body:
                    failure.memos[op["id"]] = {"data": op.get("data")}
                    failure.steps.append(op["displayName"])
                continue
            failure.status, failure.output = ("completed" if status == 200 else "failed"), body
            return failure
        raise AssertionError("the failure handler did not finish")

    def _call(
        self, fn_id: str, event: dict[str, Any], run: DrivenRun, *, attempt: int, max_attempts: int
    ) -> tuple[int, Any, dict[str, str]]:
        body = {
            "event": event,
            "events": [event],
            "steps": run.memos,
            "ctx": {
                "fn_id": fn_id,
                "run_id": run.run_id,
                "env": "",
                "step_id": "step",
                "attempt": attempt,
                "max_attempts": max_attempts,
                "disable_immediate_execution": False,
                "use_api": False,
                "stack": {"stack": list(run.memos), "current": len(run.memos)},
            },
            "use_api": False,
            "version": 2,
        }
        response = self.client.post(
            f"/api/inngest?fnId={fn_id}&stepId=step",
            data=json.dumps(body),
            content_type="application/json",
            headers={"X-Inngest-Server-Kind": "dev"},
        )
        headers = {name.lower(): value for name, value in response.headers.items()}
        return response.status_code, json.loads(response.content or b"null"), headers

    # --- following events through the pipeline ----------------------------------------------------------------
    def dispatch(self, event: dict[str, Any], *, only: set[str] | None = None) -> list[DrivenRun]:
        return [
            self.run(function.id, event)
            for function in functions_for(event["name"])
            if only is None or event["name"] in only
        ]

    def drain(self, *, only: set[str] | None = None, limit: int = 100) -> list[DrivenRun]:
        """Run every function triggered by the events the fake event API received, until none is left.

        `only`: event names to run functions for; other events are left as received (e.g. no CRM fake running).
        """
        assert self.event_api is not None, "drain needs the fake event API"
        runs: list[DrivenRun] = []
        for _ in range(limit):
            pending = self.event_api.received[self._dispatched :]
            if not pending:
                return runs
            self._dispatched += len(pending)
            for event in pending:
                if event["id"] in self._seen_event_ids:  # Inngest de-duplicates on the event id
                    continue
                self._seen_event_ids.add(event["id"])
                runs.extend(self.dispatch(event, only=only))
        raise AssertionError("events kept coming")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (when - datetime.now(tz=UTC)).total_seconds()
