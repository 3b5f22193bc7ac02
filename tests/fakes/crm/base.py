"""The machinery every fake CRM shares: a threaded local HTTP server, a request log, and injected faults.

A fault answers matching requests with a given status/headers/body for a number of times, or delays them
(`delay`) and then lets the real handler run, which is how "the CRM did the work but we timed out" is played.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler, make_server

RAW_HEADERS = "fake_crm.raw_headers"


class _RawHeadersHandler(WSGIRequestHandler):
    """Keeps the request's headers exactly as sent: WSGI drops names with underscores (agentOS's `api_key`)."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ


class CrmHTTPServer(HTTPServer):
    """pytest-httpserver's server, threaded, with the raw headers available to the fakes."""

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0, threaded=True)

    def start(self) -> None:
        self.server = make_server(
            self.host,
            self.port,
            Request.application(self.application),
            threaded=True,
            request_handler=_RawHeadersHandler,
        )
        self.port = self.server.port
        self.server_thread = threading.Thread(target=self.thread_target, daemon=True)
        self.server_thread.start()


def raw_headers(request: Request) -> Headers:
    """The request's headers as sent (case-insensitive lookup; underscores kept)."""
    return Headers(request.environ.get(RAW_HEADERS) or list(request.headers.items()))


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    times: int = 1


class FakeCrm:
    """Subclasses implement `route(request) -> Response` and `check_auth(request) -> Response | None`."""

    json_type = "application/json"
    #: Paths left out of the in-flight count (a token endpoint is not the API whose concurrency is capped).
    uncounted_paths: frozenset[str] = frozenset({"/token"})

    def __init__(self, *, latency: float = 0.0, server: HTTPServer | None = None) -> None:
        # A shared, already running server can be passed in (tests reuse one per CRM: stopping one costs 0.5 s).
        self._owns_server = server is None
        self.server = server or CrmHTTPServer()
        self.latency = latency
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.next_id = 1000

    # --- lifecycle ---

    def start(self) -> FakeCrm:
        self.server.clear()
        self.server.expect_request(re.compile(r".*")).respond_with_handler(self._handle)
        if not self.server.is_running():
            self.server.start()
        return self

    def stop(self) -> None:
        self.server.clear()
        if self._owns_server and self.server.is_running():
            self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    # --- test controls ---

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests matching method and path (a regex) get this answer instead."""
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path), status, headers or {}, body, 0.0, times))

    def slow(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` matching requests are delayed, then handled normally (the work still happens)."""
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path), None, {}, None, seconds, times))

    def made(self, method: str, path: str) -> list[RecordedRequest]:
        """Requests received with this method whose path matches the regex."""
        pattern = re.compile(path)
        return [r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path)]

    def new_id(self, prefix: str = "") -> str:
        with self.lock:
            self.next_id += 1
            return f"{prefix}{self.next_id}"

    # --- helpers for subclasses ---

    def respond(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None) -> Response:
        if body is None:
            return Response(status=status, headers=headers or {})
        text = body if isinstance(body, str) else json.dumps(body)
        return Response(text, status=status, headers=headers or {}, content_type=self.json_type)

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def check_auth(self, request: Request) -> Response | None:
        return None

    # --- the handler ---

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == request.method and fault.path.fullmatch(request.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _handle(self, request: Request) -> Response:
        counted = request.path not in self.uncounted_paths
        with self.lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query={key: value for key, value in request.args.items()},
                    headers=raw_headers(request),
                    body=request.get_data(),
                    at=time.monotonic(),
                )
            )
            if counted:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            fault = self._take_fault(request)
            if fault is not None and fault.status is not None:
                return self.respond(fault.status, fault.body, headers=fault.headers)
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            denied = self.check_auth(request)
            if denied is not None:
                return denied
            return self.route(request)
        finally:
            if counted:
                with self.lock:
                    self.in_flight -= 1


class ClientCredentialsIssuer:
    """An OAuth2 client-credentials token endpoint (Basic auth, `grant_type=client_credentials`)."""

    client_id = "test-client-id"
    client_secret = "test-client-secret-0a9b8c7d"
    token_lifetime = 3600

    def __init__(self) -> None:
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0

    def issue_token(self, request: Request, fake: FakeCrm) -> Response:
        auth = request.authorization
        if request.form.get("grant_type") != "client_credentials":
            return fake.respond(400, {"error": "unsupported_grant_type"})
        if (
            auth is None
            or auth.type != "basic"
            or (auth.username, auth.password)
            != (
                self.client_id,
                self.client_secret,
            )
        ):
            return fake.respond(401, {"error": "invalid_client"})
        with fake.lock:
            self.tokens_issued += 1
            token = f"token-{self.tokens_issued}-{fake.new_id()}"
            self.tokens[token] = time.monotonic() + self.token_lifetime
        return fake.respond(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime})

    def bearer_valid(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        expires = self.tokens.get(header.removeprefix("Bearer "))
        return expires is not None and expires > time.monotonic()

    def expire_all_tokens(self) -> None:
        """Every token issued so far stops working (expiry, or revocation on the CRM's side)."""
        self.tokens.clear()


class SlidingWindowLimit:
    """A CRM's own rate limit as the fake enforces it: at most `limit` requests per `window` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.times: list[float] = []

    def allow(self) -> bool:
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < self.window]
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


def fake_on_shared_server(fake_class: type[FakeCrm], servers: dict[str, HTTPServer], **options: Any) -> Any:
    """A fresh fake of this CRM on its shared server in `servers` (started on first use, one per CRM), so that
    tests do not start a server each."""
    server = servers.setdefault(fake_class.__name__, CrmHTTPServer())
    return fake_class(server=server, **options).start()
