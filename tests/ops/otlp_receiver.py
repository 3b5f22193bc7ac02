"""A local OTLP/HTTP trace receiver for tests: a real HTTP server decoding the protobuf body of `/v1/traces`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from jobs import traces
from tests.waiting import wait_for


def _value(value: AnyValue) -> object:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, object]
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    events: list[tuple[str, dict[str, object]]]
    service: str


@dataclass
class OtlpReceiver:
    """Collects every span posted to it; `hold` (an Event) makes each request wait until it is set."""

    url: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    paths: list[str] = field(default_factory=list)
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                            status_message=span.status.message,
                            events=[(e.name, {a.key: _value(a.value) for a in e.attributes}) for e in span.events],
                            service=str(resource.get("service.name")),
                        )
                    )
        with self.lock:
            self.requests += 1
            self.paths.append(path)
            self.spans.extend(found)

    def of_run(self, run_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [span for span in self.spans if span.attributes.get("nurturehub.run_id") == run_id]


def start_receiver(receiver: OtlpReceiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.entered.set()
            if receiver.hold is not None:
                receiver.hold.wait(timeout=120)
            receiver.receive(self.path, body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receiver(settings):
    """A receiver on a local port; tracing on and pointed at it for the test, off again after."""
    found = OtlpReceiver()
    server = start_receiver(found)
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = found.url
    traces.reset()
    yield found
    if found.hold is not None:
        found.hold.set()
    traces.reset()
    server.shutdown()


def flushed(receiver: OtlpReceiver, run_id: str, count: int) -> list:
    traces.flush()
    wait_for(lambda: len(receiver.of_run(run_id)) >= count, message=f"{count} spans of {run_id}")
    return receiver.of_run(run_id)
