from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from django.core.servers.basehttp import WSGIServer
from django.db.models import Sum

from jobs.engine.dispatcher import Dispatcher
from jobs.engine.models import Run
from jobs.engine.outcomes import DispatchRecord
from tests.waiting import wait_for

from .functions import RECORDER, SERVE_PATH

# The live server's listen backlog as gunicorn's (2048), not Django's development 10: with hundreds of step
# requests connecting at once, a backlog of 10 resets connections before the server has accepted them.
WSGIServer.request_queue_size = 2048


@pytest.fixture
def recorder():
    RECORDER.reset()
    yield RECORDER
    RECORDER.reset()


@pytest.fixture
def engine_settings(settings):
    """Fast delays, short leases; everything else as in production."""
    settings.ENGINE_DELAY_SCALE = 0.001
    settings.ENGINE_LEASE_SECONDS = 5.0
    settings.ENGINE_POLL_INTERVAL = 0.02
    return settings


class EngineHarness:
    """A live server with the test functions, dispatchers in threads, and helpers to send and wait."""

    def __init__(self, live_server_url: str) -> None:
        self.url = live_server_url
        self.serve_url = f"{live_server_url}{SERVE_PATH}"
        self.dispatchers: list[Dispatcher] = []
        self.records: list[DispatchRecord] = []

    def start_dispatcher(self, *, app_urls: list[str] | None = None, start: bool = True, **options) -> Dispatcher:
        """Sync the app(s) through a dispatcher and (unless `start=False`) start it in background threads."""
        dispatcher = Dispatcher(app_urls=app_urls or [self.serve_url], on_dispatch=self.records.append, **options)
        errors = dispatcher.sync_apps()
        assert errors == {}, errors
        if start:
            dispatcher.start()
        self.dispatchers.append(dispatcher)
        return dispatcher

    def send(self, name: str, data: dict | None = None, **fields) -> str:
        return self.send_many([{"name": name, "data": data or {}, **fields}])[0]

    def send_many(self, events: list[dict]) -> list[str]:
        response = httpx.post(f"{self.url}/e/test-key", json=events, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["ids"]

    def wait_for_runs(
        self,
        function_suffix: str,
        count: int,
        *,
        timeout: float = 20,
        statuses: tuple[str, ...] = ("completed", "failed"),
    ) -> list[Run]:
        """Wait until `count` runs have ended; fail only after `timeout` seconds with no progress at all.

        Progress is a run ending or a step's memo being stored, so a slow (loaded) machine that keeps working is
        waited for, and an engine that has stopped working fails within `timeout`.
        """
        deadline, progress = time.monotonic() + timeout, None
        while True:
            runs = list(
                Run.objects.filter(function__slug__endswith=function_suffix, status__in=statuses).order_by("id")
            )
            if len(runs) >= count:
                break
            now_progress = (
                len(runs),
                Run.objects.filter(function__slug__endswith=function_suffix).aggregate(done=Sum("steps_done"))["done"],
            )
            if now_progress != progress:
                deadline, progress = time.monotonic() + timeout, now_progress
            elif time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(runs) >= count, f"{len(runs)}/{count} {function_suffix} runs finished; none for {timeout}s"
        return runs

    def stop(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.stop(timeout=10)


@pytest.fixture
def engine(live_server, engine_settings, recorder) -> Iterator[EngineHarness]:
    harness = EngineHarness(live_server.url)
    yield harness
    harness.stop()


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """tests/waiting.py's `wait_for`, under the name the engine tests take it by."""
    return wait_for
