"""Headless Chromium for the admin's browser tests: the system's Chromium (apt), driven by Playwright's Python API.

No browser is downloaded at test time (.ci/run installs the `chromium` package). Pages are 1440 x 900, the size
operators use; screenshots are kept under .data/screenshots/ (gitignored) as the tests' artefacts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from crm_adapters.oauth import clear_token_cache
from jobs.engine.dispatcher import Dispatcher
from tests.ops.conftest import make_event_log, make_run  # noqa: F401 - the same builders as the admin tests

CHROMIUM = next(
    (path for path in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "") if path and os.path.exists(path)),
    None,
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".data" / "screenshots"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
)
# Chromium and the live server take both cores for a minute: `make test` (xdist --dist loadgroup) runs these on
# the same worker as the timing-sensitive concurrency tests of tests/pipeline/test_e2e_pipeline.py, never beside.
CPU_HEAVY = pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive")


class LocalEngine:
    """The local engine serving the live server's app: a dispatcher in threads that a test may stop (the work it
    queues meanwhile waits) and start again."""

    def __init__(self) -> None:
        self.dispatcher: Dispatcher | None = None

    def start(self) -> None:
        assert self.dispatcher is None, "already running"
        dispatcher = Dispatcher(app_urls=[settings.INNGEST_SERVE_URL], workers=8)
        assert dispatcher.sync_apps() == {}
        dispatcher.start()
        self.dispatcher = dispatcher

    def stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop(timeout=10)
            self.dispatcher = None


@pytest.fixture
def engine(live_server, settings):
    """The local engine, running: real HTTP to the serve endpoint, retry delays compressed (ENGINE_DELAY_SCALE)."""
    settings.ENGINE_DELAY_SCALE = 0.001
    settings.ENGINE_LEASE_SECONDS = 5.0
    settings.ENGINE_POLL_INTERVAL = 0.02
    clear_token_cache()
    engine = LocalEngine()
    engine.start()
    yield engine
    engine.stop()


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(15_000)
        yield page
        browser.close()
        # While Playwright's loop runs, Django keeps this test's connection in a context of its own, which
        # pytest-django would not close: close it here, or the test database cannot be dropped at the end.
        connections.close_all()


@pytest.fixture
def screenshot(request):
    """screenshot(page, "name"): a full-page PNG under .data/screenshots/<test name>/, numbered in order."""
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []

    def take(page, name: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take


OPERATOR_PASSWORD = "ops-password-1"


def operator_create(**fields):
    """The operator `ops` (a staff superuser unless `fields` say otherwise), with OPERATOR_PASSWORD."""
    from tests.factories import UserFactory

    operator = UserFactory(username="ops", **{"is_staff": True, "is_superuser": True, **fields})
    operator.set_password(OPERATOR_PASSWORD)
    operator.save()
    return operator


def admin_sign_in(page, base_url: str, username: str = "ops") -> None:
    """Sign in through the admin's own login form, as an operator does."""
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", OPERATOR_PASSWORD)
    page.click("input[type=submit]")
