"""The web server as `make run` starts it (gunicorn, `nurturehub/web.py`), serving the test functions.

Its settings are tests.engine.bench_settings (the project's, with tests/engine/urls.py: the test functions on their
own paths, one of them behind the web-queue gate), on the test's database. Its step bodies run in gunicorn's
workers, so they journal to a file (`FENCE_JOURNAL`), and the gate's state is a directory (`WEB_QUEUE_DIR`).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.conf import settings

from nurturehub.web import web_server_command
from tests.engine.dispatcher_process import environment_on_test_database
from tests.ports import free_port


def _environment(engine, **environment: str) -> dict[str, str]:
    env = environment_on_test_database()
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.engine.bench_settings",
            "DEBUG": "true",
            "LOCAL_ENGINE_ENABLED": "true",
            "INNGEST_DEV": "true",
            "INNGEST_BASE_URL": engine.url,  # the SDK registers the functions with the test's engine endpoints
            "WHITENOISE_USE_FINDERS": "true",
            "LOG_LEVEL": "WARNING",
            **environment,
        }
    )
    return env


@contextmanager
def gunicorn_process(engine, *, log: Path, **environment: str) -> Iterator[str]:
    """gunicorn started with the command `make run` uses; yields its base URL and stops it (SIGTERM) after."""
    address = f"127.0.0.1:{free_port()}"
    with log.open("ab") as stderr:
        process = subprocess.Popen(  # noqa: S603
            web_server_command(address),
            env=_environment(engine, **environment),
            cwd=settings.BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://{address}"
    try:
        deadline = time.monotonic() + 120  # an upper bound for a slow machine, not a measurement
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {log.read_text()[-2000:]}")
            try:
                httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=120)  # it finishes the requests it holds first (graceful_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_journal(path: Path) -> list[dict]:
    """The step-body starts the gunicorn workers journaled (tests/engine/fence_functions.py `_journal_line`)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
