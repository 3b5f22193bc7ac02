"""Building the SDK request for a leased queue item: one query reads the item, its run, function and memos."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import connection
from django.utils import timezone

from .. import hooks
from ..queries import fetch_row, statement
from .rows import json_value

_REQUEST_READ_SQL = statement("request_read")


class _RequestRow(NamedTuple):
    """request_read's row: the item, its run and function, the memos so far and a step.ai.infer request."""

    step_id: str
    step_name: str
    attempt: int
    max_attempts: int
    generation: int
    run_id: str
    events: Any  # jsonb, as text
    force_step_plan: bool
    request_version: int
    function_pk: int
    slug: str
    step_url: str
    memos: Any  # json [[hashed id, memo], ...] in position order, as text; None without memos
    ai_request: Any  # jsonb, as text; None unless a step.ai.infer step


@dataclass
class CallRequest:
    url: str
    body: dict[str, Any]
    run_id: str
    function_slug: str
    step_name: str
    generation: int = 0  # the item's generation when built: the fence and the answer are checked against it
    request_version: int = -1
    kind: str = ""  # a feature's kind of item (hooks.queue_kind: a pause's timeout, step.ai.infer); "": an SDK request
    payload: Any = None  # what the kind's `call` sends (a step.ai.infer request)


def call_request_build(*, item_id: int, owner: str) -> CallRequest | None:
    """The SDK request for a leased item (None if the lease was lost or ran out); one query, memos included.

    `owner` is the claim's lease token: an item claimed again since (its lease ran out) has another.
    """
    with connection.cursor() as cursor:
        cursor.execute(_REQUEST_READ_SQL, [item_id, owner, timezone.now()])
        found = fetch_row(cursor, _RequestRow)
    if found is None:
        return None
    payload = json_value(found.ai_request)
    kind = hooks.queue_kind_of(found.step_id, payload)
    if kind is not None:  # run by its feature (the dispatcher looks the kind up), not sent to the SDK
        return CallRequest(
            url="",
            body={},
            run_id=found.run_id,
            function_slug=found.slug,
            step_name=found.step_name or found.step_id,
            generation=found.generation,
            request_version=found.request_version,
            kind=kind.name,
            payload=payload,
        )
    events = json_value(found.events) or [{"name": "inngest/unknown", "data": {}, "id": found.run_id, "ts": 0}]
    memos = json_value(found.memos) or []
    stack = [hashed_id for hashed_id, _ in memos]
    body = {
        "event": events[0],
        "events": events,
        "steps": dict(memos),
        "ctx": {
            "fn_id": str(found.function_pk),
            "run_id": found.run_id,
            "env": "",
            "step_id": found.step_id,
            "attempt": found.attempt,
            "max_attempts": found.max_attempts,
            "stack": {"stack": stack, "current": len(stack)},
            "disable_immediate_execution": found.force_step_plan,
            "use_api": False,
        },
        # Inngest starts a run at request version -1 (the SDK picks) and keeps the version the SDK answers with
        # (executor.go HandleGeneratorResponse; driver/request.go sends it as `version`).
        "version": found.request_version,
        "use_api": False,
    }
    return CallRequest(
        url=_step_url(found.step_url, found.step_id),
        body=body,
        run_id=found.run_id,
        function_slug=found.slug,
        step_name=found.step_name or found.step_id,
        generation=found.generation,
        request_version=found.request_version,
    )


def _step_url(step_url: str, step_id: str) -> str:
    base, _, query = step_url.partition("?")
    params = [part for part in query.split("&") if part and not part.startswith("stepId=")]
    params.append(f"stepId={step_id}")
    return f"{base}?{'&'.join(params)}"
