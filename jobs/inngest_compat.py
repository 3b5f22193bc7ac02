"""What we rely on from the Inngest SDK beyond its public API, in one place (checked against inngest==0.5.19).

The outbox builds the SDK's event request without sending it (`send_request`). Run tracking needs two facts the
SDK keeps private: a function's configured retry count (`Function._opts`) and
the opcode of the step a request ran (`TransformOutputResult.step.op`, an enum of the SDK's `_internal`). Both are
read here only, through names of the wire protocol rather than the SDK's enum, and `tests/jobs/
test_inngest_compat.py` fails when an SDK upgrade moves them. Inngest's server-side retry defaults, which the
tracking predicts for plain errors, are here too: they are Inngest's behaviour, not ours.
The SDK's Event model also drops the envelope's `v` (it has no such field and ignores extras); `keep_event_version`
makes it keep it, so a function can upcast an event sent under an older version (jobs/events.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import inngest

# The step opcodes of Inngest's SDK protocol, as they travel on the wire (the SDK's `Opcode` values).
STEP_RUN = "StepRun"
STEP_ERROR = "StepError"
STEP_FAILED = "StepFailed"
SLEEP = "Sleep"

# Inngest's default retry delays, in seconds, after the n-th failed attempt of a plain error (its pkg/backoff;
# docs/inngest-engine.md 2.2); the server adds 0-30 s of jitter. The local engine implements the same table.
BACKOFF_TABLE_SECONDS = (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)
BACKOFF_JITTER_SECONDS = 30
DEFAULT_RETRIES = 4  # a function declared without `retries`: 5 attempts in all


def keep_event_version() -> None:
    """Let the SDK's Event (and the request model that embeds it) keep unknown envelope fields such as `v`, which
    Inngest sends to functions (its pkg/event Event.Map adds "v" when the sender gave one). Idempotent."""
    from inngest._internal.server_lib import event, execution_request

    if event.Event.model_config.get("extra") == "allow":
        return
    event.Event.model_config["extra"] = "allow"
    event.Event.model_rebuild(force=True)
    execution_request.ServerRequest.model_rebuild(force=True)


def function_retries(function: inngest.Function[Any]) -> int | None:
    """The retry count the function was declared with (what the server was told), None when left to Inngest."""
    return function._opts.retries


def step_opcode(result: inngest.TransformOutputResult) -> str | None:
    """The wire name of what the request's step did (`STEP_RUN`, `STEP_ERROR`, ...); None when no step ran."""
    step = result.step
    return None if step is None else str(step.op.value)


def memo_count(steps: Any) -> int | None:
    """How many steps the request carries memos for (the middleware's `steps`, the SDK's StepMemos)."""
    size = getattr(steps, "size", None)
    return size if isinstance(size, int) else None


def step_id(result: inngest.TransformOutputResult) -> str | None:
    return None if result.step is None else result.step.id


def send_request(client: inngest.Inngest, events: list[inngest.Event]) -> httpx.Request:
    """The SDK's own POST of `events` to its event API (URL, key, headers, body), built but not sent.

    `Inngest.send_sync` retries an unanswered request 5 times with a 30 s timeout each; the outbox needs one
    attempt it can bound (jobs/outbox.py), with the very request the SDK would have sent.
    """
    request = client._build_send_request(events)
    if isinstance(request, Exception):
        raise request
    return request
