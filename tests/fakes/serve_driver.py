"""Drives a function through the real serve endpoint exactly as an Inngest server does (protocol §1.2-1.6).

Each call POSTs `?fnId=...&stepId=step` with the event, the memoized step outputs so far and the run context;
a 206 with `StepRun` ops is memoized and the run continues, until the function answers 200 (done) or 500.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from django.test import Client

from jobs.events import Event


@dataclass
class DrivenRun:
    status: int
    output: Any
    steps: list[str] = field(default_factory=list)  # user step ids in the order they ran
    requests: int = 0
    memos: dict[str, Any] = field(default_factory=dict)


def inngest_event(event: Event, event_id: str = "01TESTEVENT000000000000000") -> dict[str, Any]:
    return {"name": event.name, "data": event.to_wire(), "id": event_id, "ts": int(time.time() * 1000), "user": {}}


def call_serve(
    client: Client, fn_id: str, event: dict[str, Any], memos: dict[str, Any], *, run_id: str, attempt: int = 0
) -> tuple[int, Any, dict[str, str]]:
    body = {
        "event": event,
        "events": [event],
        "steps": memos,
        "ctx": {
            "run_id": run_id,
            "attempt": attempt,
            "max_attempts": 5,
            "disable_immediate_execution": False,
            "use_api": False,
            "stack": {"stack": list(memos), "current": len(memos)},
        },
        "use_api": False,
        "version": 2,
    }
    response = client.post(
        f"/api/inngest?fnId={fn_id}&stepId=step",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-Inngest-Server-Kind": "dev"},
    )
    return response.status_code, json.loads(response.content or b"null"), dict(response.headers)


def drive(
    client: Client, fn_id: str, event: dict[str, Any], *, run_id: str = "01TESTRUN", limit: int = 20
) -> DrivenRun:
    run = DrivenRun(status=0, output=None)
    for _ in range(limit):
        status, body, _ = call_serve(client, fn_id, event, run.memos, run_id=run_id)
        run.requests += 1
        if status != 206:
            run.status, run.output = status, body
            return run
        for op in body:
            assert op["op"] == "StepRun", f"unexpected opcode {op['op']}"
            run.memos[op["id"]] = {"data": op.get("data")}
            run.steps.append(op["displayName"])
    raise AssertionError(f"run did not finish in {limit} requests")
