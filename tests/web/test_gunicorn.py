"""The production web server as `make run` and the benchmarks start it (nurturehub/web.py): real gunicorn, real HTTP.

A step request mostly waits on a provider (an AI call takes 5-20 s), so the server must hold many such requests
at once without a process each. The upstream below answers only when `IN_FLIGHT` requests wait inside it at the
same time (a barrier), so the test counts concurrency instead of timing it: a server that holds fewer at once
(gunicorn's default sync workers hold 2 with 2 processes) never fills the barrier and every request gets 503.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from nurturehub.web import web_server_command
from tests.ports import free_port

IN_FLIGHT = 100  # more than WEB_CONCURRENCY (2) processes by far; more than one worker's WEB_THREADS (64)


class BarrierUpstream:
    """A loopback HTTP server whose every answer waits until `parties` requests are inside it at once."""

    def __init__(self, parties: int) -> None:
        barrier = threading.Barrier(parties, timeout=120)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    barrier.wait()
                    status, body = 200, b"together"
                except threading.BrokenBarrierError:
                    status, body = 503, b"not enough requests in flight at once"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gunicorn() -> Iterator[str]:
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.web.settings", "WHITENOISE_USE_FINDERS": "true"}
    process = subprocess.Popen(  # noqa: S603
        web_server_command(address), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://{address}"
    deadline = time.monotonic() + 120  # an upper bound for a slow machine, not a measurement
    while True:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")
        try:
            httpx.get(f"{url}/api/inngest", timeout=5)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError("gunicorn did not answer") from None
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=60)  # its graceful_timeout is 30 s; a loaded machine may take longer to exit
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_gunicorn_serves_the_inngest_endpoint_and_the_admins_static_files(gunicorn):
    introspection = httpx.get(f"{gunicorn}/api/inngest")
    css = httpx.get(f"{gunicorn}/static/admin/css/base.css")

    assert introspection.status_code == 200 and introspection.json()["function_count"] >= 1
    assert introspection.headers["server"] == "gunicorn"
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_gunicorn_holds_a_hundred_requests_waiting_on_a_provider_at_once(gunicorn):
    upstream = BarrierUpstream(IN_FLIGHT)
    try:
        with httpx.Client(timeout=180, limits=httpx.Limits(max_connections=IN_FLIGHT)) as client:
            with ThreadPoolExecutor(IN_FLIGHT) as pool:
                answers = list(
                    pool.map(lambda _: client.get(f"{gunicorn}/test-upstream/?port={upstream.port}"), range(IN_FLIGHT))
                )
    finally:
        upstream.stop()

    assert [answer.status_code for answer in answers] == [200] * IN_FLIGHT
