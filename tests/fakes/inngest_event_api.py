"""A local HTTP server that answers like Inngest's event API (`POST /e/<key>`), recording what it received, and its
REST API's rerun (`POST /api/v2/runs/<id>/rerun`), answering with a new run id.

Requests are served each on a thread of its own (as a real server would), so a send can be held (`hold`) while
others arrive.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


@dataclass
class FakeEventApi:
    server: HTTPServer
    received: list[dict] = field(default_factory=list)
    requests: int = 0
    request_sizes: list[int] = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this status while set
    fail_times: int | None = None  # with fail_with: only this many requests, then fail_with is cleared
    reruns: list[str] = field(default_factory=list)  # the run ids asked to be rerun, in order
    rerun_refusal: tuple[int, str] | None = None  # (status, error) to answer reruns with while set
    hold: threading.Event | None = None  # while set and not yet open, each send waits here, counted in `held`
    held: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def handle(self, request: Request) -> Response:
        hold = self.hold
        if hold is not None:
            with self._lock:
                self.held += 1
            hold.wait()
        with self._lock:
            self.requests += 1
            if self.fail_with is not None:
                status = self.fail_with
                if self.fail_times is not None:
                    self.fail_times -= 1
                    if self.fail_times <= 0:
                        self.fail_with = self.fail_times = None
                return Response(json.dumps({"error": "unavailable"}), status=status)
            events = json.loads(request.data)
            self.request_sizes.append(len(request.data))
            self.received.extend(events)
            ids = [f"01FAKE{len(self.received) - len(events) + index:020d}" for index in range(len(events))]
        return Response(json.dumps({"ids": ids, "status": 200}), content_type="application/json")

    def names(self) -> list[str]:
        return [event["name"] for event in self.received]

    def handle_rerun(self, request: Request) -> Response:
        run_id = request.path.split("/")[-2]
        if self.rerun_refusal is not None:
            status, error = self.rerun_refusal
            return Response(json.dumps({"error": error}), status=status, content_type="application/json")
        with self._lock:
            self.reruns.append(run_id)
        new_run_id = f"01RERUN{len(self.reruns):019d}"
        return Response(json.dumps({"data": {"runId": new_run_id}}), content_type="application/json")
