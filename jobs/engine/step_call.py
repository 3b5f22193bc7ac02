"""One step request to the serve endpoint, as Inngest's HTTP driver makes it: the body (RFC 8785 bytes when
signed, without events and memos past 4 MB), the headers the SDK reads, the signature, and the answer read back
into a `CallResponse` (pkg/execution/driver/httpdriver).
"""

from __future__ import annotations

import json
import re
import time
import uuid

import aiohttp
from django.utils import timezone

from .fence import HEADER as FENCE_HEADER
from .fence import REFUSED as FENCE_REFUSED
from .fence import Fence
from .outcomes import STEP_HEADER, CallResponse, transport_error
from .protocol import MAX_SDK_REQUEST_BODY_BYTES, canonical_json, sign_body, without_state_for_api
from .request_checks import storable

_SERVER_TIMING = re.compile(r"(?:^|,)\s*(comm_handler|function);dur=([\d.]+)")

# The JSON escapes of a NUL or a surrogate: a pair (an emoji) is storable and walked for nothing, which is cheap.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F])")


class StepCaller:
    """Makes step requests for one dispatcher (its signing key and the server kind it announces)."""

    def __init__(self, *, signing_key: str, server_kind: str) -> None:
        self.signing_key = signing_key
        self.server_kind = server_kind

    def encode(self, body: dict) -> bytes:
        # Signed requests must be the RFC 8785 bytes the SDK re-derives; unsigned ones only need to be JSON.
        return canonical_json(body) if self.signing_key else json.dumps(body, separators=(",", ":")).encode()

    async def call(
        self,
        http: aiohttp.ClientSession,
        url: str,
        body: dict,
        *,
        run_id: str,
        job: int,
        request_version: int = -1,
        fence: Fence | None = None,
    ) -> tuple[CallResponse, float, dict[str, float]]:
        """POST one step request; returns the answer, the request's milliseconds and the SDK's Server-Timing.

        `fence` (the claim's token and the item's generation) lets the serve endpoint refuse the request once it
        is stale (fence.py); a refusal comes back as `CallResponse.fenced`.
        """
        content = self.encode(body)
        if len(content) > MAX_SDK_REQUEST_BODY_BYTES:
            content = self.encode(without_state_for_api(body))
        headers = {
            "Content-Type": "application/json",
            # One connection per step, measured with httpx (bench/engine.py, 300 runs, gunicorn): keep-alive cost the
            # dispatcher more CPU per step (6.7-8.1 ms against 4.9-5.2 ms) with hundreds of requests in flight,
            # as httpcore's pool walks every connection for each idle one each time a request starts or ends.
            # A new loopback connection costs ~0.1 ms. (gunicorn sets TCP_NODELAY, so Nagle's algorithm and
            # delayed ACKs no longer stall kept-alive responses; Django's development server still would.)
            "Connection": "close",
            "X-Inngest-Server-Kind": self.server_kind,
            "X-Run-ID": run_id,
            "x-request-id": uuid.uuid4().hex,
            "x-inngest-job-id": str(job),
            "X-Inngest-Req-Version": str(request_version),
        }
        if fence is not None:
            headers[FENCE_HEADER] = fence.header()
        if self.signing_key:
            headers["X-Inngest-Signature"] = sign_body(content, self.signing_key)
        started = time.perf_counter()
        sent_at = timezone.now()
        try:
            async with http.post(url, data=content, headers=headers) as response:
                status, response_headers, raw = response.status, response.headers, await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            elapsed = (time.perf_counter() - started) * 1000
            failed = CallResponse(status=None, transport_error=transport_error(error, http), started_at=sent_at)
            return failed, elapsed, {}
        elapsed = (time.perf_counter() - started) * 1000
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if _UNSTORABLE_ESCAPE.search(raw):  # a NUL or a surrogate, which PostgreSQL cannot store (request_checks)
            parsed = storable(parsed)
        timings = {name: float(ms) for name, ms in _SERVER_TIMING.findall(response_headers.get("server-timing", ""))}
        return (
            CallResponse(
                status=status,
                from_sdk="x-inngest-sdk" in response_headers,
                no_retry=response_headers.get("x-inngest-no-retry", "").lower() == "true",
                retry_after=response_headers.get("retry-after"),
                body=parsed,
                request_version=_int_or_none(response_headers.get("x-inngest-req-version")),
                started_at=sent_at,
                fenced=status == 409 and response_headers.get(FENCE_HEADER, "") == FENCE_REFUSED,
                step=response_headers.get(STEP_HEADER, "")[:255] if status >= 400 else "",
            ),
            elapsed,
            timings,
        )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
