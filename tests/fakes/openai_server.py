"""A local HTTP server that speaks OpenAI's chat completions API (`POST /v1/chat/completions`).

It answers structured-output requests (`response_format: json_schema`) with three emails built from the prompt
(the contact's first name is read back from it, so a test can see the prompt arrived), and can be scripted to
answer the next requests with what real OpenAI sends on trouble: 429 with `retry-after-ms` / `retry-after` or
without either, 500, 401 (bad key), 400, malformed content (not JSON, or two emails instead of three), each
in OpenAI's documented error JSON. `delay` makes every answer slow; in-flight requests are counted, per
agency too (read from the system prompt), so benchmarks and tests can see how much ran at once. `hold()` keeps
every answer waiting until `release()`, and `wait_for_in_flight(...)` waits until given counts are inside at once:
tests count concurrency instead of timing it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "sk-test-local-fake"


@dataclass
class Scripted:
    """One scripted answer: `kind` is ok | rate_limit | server_error | unauthorized | bad_request | not_json |
    two_emails | refusal | length (the answer cut off at the token limit: `finish_reason` "length")."""

    kind: str
    retry_after: str | None = None  # the `retry-after` header (seconds), when given
    retry_after_ms: str | None = None  # the `retry-after-ms` header, when given


@dataclass
class FakeOpenAI:
    delay: float = 0.0
    api_key: str = API_KEY
    model: str = "gpt-4o-mini-2024-07-18"
    script: deque[Scripted] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    answered: Counter = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    in_flight_by_agency: Counter = field(default_factory=Counter)
    max_in_flight_by_agency: Counter = field(default_factory=Counter)
    calls: list[tuple[str, float, float]] = field(default_factory=list)  # (agency, started, ended), monotonic
    held: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)  # notified whenever the counts or `held` change

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def hold(self) -> None:
        """Keep every answer (those in flight and those to come) waiting until `release()`."""
        with self._changed:
            self.held = True

    def release(self) -> None:
        with self._changed:
            self.held = False
            self._changed.notify_all()

    def wait_for_in_flight(self, by_agency: dict[str, int], *, timeout: float = 120) -> None:
        """Wait until exactly these numbers of requests per agency are inside the server at once.

        `timeout` only bounds a test that would otherwise hang; nothing is measured against it."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: all(self.in_flight_by_agency[agency] == count for agency, count in by_agency.items()),
                timeout=timeout,
            ):
                raise AssertionError(f"in flight {dict(self.in_flight_by_agency)}, waited for {by_agency}")

    def then(self, *answers: Scripted | str) -> FakeOpenAI:
        """Queue the answers to the next requests (after them, every request succeeds)."""
        for answer in answers:
            self.script.append(answer if isinstance(answer, Scripted) else Scripted(answer))
        return self

    # --- the API -----------------------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length)
        if request.path.rstrip("/") != "/v1/chat/completions":
            self._send(request, 404, _error("Unknown request URL", "invalid_request_error", "unknown_url"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(
                request, 400, _error("We could not parse the JSON body of your request.", "invalid_request_error")
            )
            return
        agency = _agency(body)
        started = time.monotonic()
        with self._lock:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.in_flight_by_agency[agency] += 1
            self.max_in_flight_by_agency[agency] = max(
                self.max_in_flight_by_agency[agency], self.in_flight_by_agency[agency]
            )
            scripted = self.script.popleft() if self.script else Scripted("ok")
            self._changed.notify_all()
            self._changed.wait_for(lambda: not self.held)
        try:
            if self.delay:
                time.sleep(self.delay)
            status, payload, headers = self._answer(request, body, scripted)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.in_flight_by_agency[agency] -= 1
                self.answered[scripted.kind] += 1
                self.calls.append((agency, started, time.monotonic()))
                self._changed.notify_all()
        self._send(request, status, payload, headers)

    def _answer(
        self, request: BaseHTTPRequestHandler, body: dict[str, Any], scripted: Scripted
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if request.headers.get("authorization") != f"Bearer {self.api_key}" or scripted.kind == "unauthorized":
            return 401, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"), {}
        if scripted.kind == "rate_limit":
            headers = {}
            if scripted.retry_after is not None:
                headers["retry-after"] = scripted.retry_after
            if scripted.retry_after_ms is not None:
                headers["retry-after-ms"] = scripted.retry_after_ms
            message = "Rate limit reached for requests per min (RPM). Please try again later."
            return 429, _error(message, "requests", "rate_limit_exceeded"), headers
        if scripted.kind == "server_error":
            return 500, _error("The server had an error while processing your request.", "server_error"), {}
        if scripted.kind == "bad_request":
            return 400, _error("Invalid schema for response_format.", "invalid_request_error"), {}
        response_format = body.get("response_format") or {}
        if response_format.get("type") != "json_schema" or not body.get("messages"):
            return 400, _error("This fake only answers structured-output requests.", "invalid_request_error"), {}
        first_name = _first_name(body)
        emails = [
            {
                "subject": f"{first_name}, email {position} from us",
                "preview_text": f"Preview of email {position}",
                "body_html": f"<p>Hello {first_name},</p><p>This is email {position}.</p>",
                "body_text": f"Hello {first_name},\n\nThis is email {position}.",
            }
            for position in (1, 2, 3)
        ]
        refusal = None
        if scripted.kind == "not_json":
            content: str | None = "Here are your three emails: 1) Hello..."
        elif scripted.kind == "two_emails":
            content = json.dumps({"emails": emails[:2]})
        elif scripted.kind == "refusal":
            content, refusal = None, "I can't help with that."
        elif scripted.kind == "length":
            content = json.dumps({"emails": emails})[:120]
        else:
            content = json.dumps({"emails": emails})
        completion = {
            "id": f"chatcmpl-fake{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "logprobs": None,
                    "finish_reason": "length" if scripted.kind == "length" else "stop",
                }
            ],
            "usage": {"prompt_tokens": 420, "completion_tokens": 380, "total_tokens": 800},
        }
        return 200, completion, {}

    def _send(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("content-type", "application/json")
        request.send_header("content-length", str(len(data)))
        request.send_header("x-request-id", f"req_fake_{len(self.requests)}")
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)


def _error(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _first_name(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        match = re.search(r'first name "([^"]+)"', str(message.get("content", "")))
        if match:
            return match.group(1)
    return "there"


def _agency(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        match = re.search(r"nurture sequences for (.+?), a UK property agency", str(message.get("content", "")))
        if match:
            return match.group(1)
    return ""
