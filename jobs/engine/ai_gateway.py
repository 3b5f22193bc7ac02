"""`step.ai.infer` (opcode AIGateway): the engine makes the provider request itself, so no app worker waits on it.

Follows inngest/inngest pkg/execution/executor/executor.go `handleGeneratorAIGateway` and
pkg/util/aigateway/request.go `SerializableRequest`:
- the op's opts give `url`, `headers`, `auth_key`, `format` and `body`; the request is a JSON POST with the key
  as `Authorization: Bearer` (openai-chat and the default), `x-api-key` (anthropic), the raw `Authorization`
  (bedrock) or a `key` query parameter (gemini); the op's headers are added last;
- a 2xx answer is the step's memo as `{"data": <provider body>}`, and the run goes on with discovery;
- an error (no answer, or a status above 299) is retried like a failed step while attempts remain (Inngest
  returns the error to its queue, which backs off as for any step); on the last attempt the memo is
  `{"error": {"name": "AIGatewayError", "message": "Error making AI request: ...", "data", "stack"}}` and
  discovery goes on, so the SDK raises the error in the function, as for OpcodeStepError.
The request runs as a coroutine on the dispatcher's asyncio loop with its aiohttp session; its queue item holds
the run's concurrency slot while it is in flight, like a step's request. The request's opts (with the provider
key) are stored in GatewayRequest until the memo is, and never put in a log line or the trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from django.db import connection, transaction
from django.utils import timezone

from . import hooks
from .models import GatewayRequest, Run, RunSpan
from .outcomes import CallResponse, Outcome, Result, transport_error
from .queries import statement
from .request_checks import storable
from .services import answer_rows
from .services.progress import Answer, retry_delay, step_done
from .trace import spans_insert

OP = "AIGateway"
ERROR_NAME = "AIGatewayError"

_REQUEST_INSERT_SQL = statement("gateway_request_insert")


@dataclass
class GatewayResult:
    """The provider's answer (status None: the request itself failed)."""

    status: int | None
    body: Any = None
    text: str = ""
    error: str = ""
    started_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299


@hooks.opcode(OP)
def gateway_op(answer: Answer, op: dict[str, Any], hashed_id: str, name: str) -> hooks.OpEffect:
    """The op plans its step as an item the engine itself runs (the dispatcher makes the provider request)."""
    gateway_request_store(answer.run, hashed_id, op, now=answer.now)
    return hooks.Planned()


def gateway_request_store(run: Run, hashed_id: str, op: dict[str, Any], *, now: datetime) -> None:
    """Keep the op's request for the engine to make (once per step: a re-planned step keeps the first)."""
    opts = op.get("opts") if isinstance(op.get("opts"), dict) else {}
    with connection.cursor() as cursor:
        cursor.execute(_REQUEST_INSERT_SQL, [run.pk, hashed_id, json.dumps(opts), now])


def provider_request(opts: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    """The URL, headers and body to send (aigateway/request.go SerializableRequest)."""
    url, auth_key, fmt = str(opts.get("url") or ""), str(opts.get("auth_key") or ""), opts.get("format")
    headers = {"Content-Type": "application/json"}
    if fmt == "gemini":
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), ("key", auth_key)])))
    elif fmt == "bedrock":
        headers["Authorization"] = auth_key
    elif fmt == "anthropic":
        headers["X-Api-Key"] = auth_key
    else:
        headers["Authorization"] = f"Bearer {auth_key}"
    for name, value in (opts.get("headers") or {}).items():
        headers[_canonical_header(str(name))] = str(value)
    return url, headers, json.dumps(opts.get("body")).encode()


def _canonical_header(name: str) -> str:
    """Go's http.Header canonical form (`x-my-header` -> `X-My-Header`), as Inngest sends header names."""
    return "-".join(part.capitalize() for part in name.split("-"))


async def gateway_call(http: aiohttp.ClientSession, opts: dict[str, Any]) -> GatewayResult:
    """Make the provider request on the dispatcher's loop; a transport error is a result, never an exception."""
    started_at = timezone.now()
    try:
        url, headers, content = provider_request(opts)
        async with http.post(url, data=content, headers=headers) as response:
            status, raw = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        message = transport_error(error, http)
        if opts.get("auth_key"):
            message = message.replace(str(opts["auth_key"]), "[redacted]")  # gemini's key is in the URL
        return GatewayResult(status=None, error=message, started_at=started_at)
    text = storable(raw.decode("utf-8", errors="replace"))  # stored as the step's memo: no NUL (request_checks)
    try:
        body = storable(json.loads(text)) if text else None
    except ValueError:
        body = text
    return GatewayResult(status=status, body=body, text=text, started_at=started_at)


def gateway_answer_apply(*, item_id: int, owner: str, result: GatewayResult) -> Outcome:
    """Store the provider's answer as the step's memo, or retry the step, under the claim's lease; all or nothing."""
    now = timezone.now()
    with transaction.atomic():
        item = answer_rows.item_lock(item_id=item_id, owner=owner)
        if item is None:
            return Outcome(Result.LEASE_LOST)
        run = item.run
        response = CallResponse(status=result.status, started_at=result.started_at)
        answer = Answer(item=item, run=run, response=response, now=now)
        outcome = _apply(answer, result)
        spans_insert(run.pk, answer.spans)
    return outcome


def _apply(answer: Answer, result: GatewayResult) -> Outcome:
    run, item, now = answer.run, answer.item, answer.now
    ids = {"step_id": item.step_id, "step_name": item.step_name}
    if run.status in Run.FINISHED:
        answer_rows.item_delete(item)
        GatewayRequest.objects.filter(run=run, hashed_id=item.step_id).delete()
        return Outcome(Result.STALE)
    if result.ok:
        answer.span(op=OP, status=RunSpan.Status.COMPLETED, output=result.body, **ids)
        memo: dict[str, Any] = {"data": result.body}
    else:
        error = _user_error(result)
        if item.attempt + 1 < item.max_attempts:
            delay = retry_delay(item.attempt, CallResponse(status=result.status), now=now)
            answer.span(op=OP, status=RunSpan.Status.RETRYING, error=error, retry_at=now + delay, **ids)
            answer_rows.item_retry(item, delay, now=now)
            return Outcome(
                Result.RETRY,
                step=item.step_name,
                detail={"error": error["message"], "retry_in_ms": round(delay.total_seconds() * 1000)},
            )
        answer.span(op=OP, status=RunSpan.Status.FAILED, error=error, **ids)
        memo = {"error": error}
    answer_rows.memo_save(run, item.step_id, item.step_name, memo, now=now)
    GatewayRequest.objects.filter(run=run, hashed_id=item.step_id).delete()
    return step_done(run, item, item.step_name, now=now)


def _user_error(result: GatewayResult) -> dict[str, Any]:
    """executor.go handleGeneratorAIGateway's state.UserError for a failed request."""
    cause = result.error or f"unsuccessful status code: {result.status}"
    error: dict[str, Any] = {"name": ERROR_NAME, "message": f"Error making AI request: {cause}"}
    if result.text:
        error["stack"] = result.text
        if not isinstance(result.body, str):
            error["data"] = result.body
    else:
        error["data"] = {"error": "Error making AI request"}
    return error


# A step.ai.infer item is the one with a stored request (request_read joins GatewayRequest): the dispatcher sends
# it with `gateway_call` on its loop and stores the answer with `gateway_answer_apply`.
hooks.queue_kind(
    hooks.QueueKind(
        name="ai.infer",
        recognise=lambda _step_id, payload: payload is not None,
        apply=gateway_answer_apply,
        call=gateway_call,
    )
)
