"""`manage.py run_all` with DEBUG=false, as real processes on the test database: it must start (its readiness
probe used to be an unsigned GET of /api/inngest, 401 in production) and must not seed demo users."""

from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent.parent


def database_url() -> str:
    """The test database as a DATABASE_URL (the embedded server's Unix socket directory as the `host` option)."""
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@:{db['PORT']}/{db['NAME']}?host={quote(db['HOST'])}"


def production_env(address: str) -> dict[str, str]:
    scrubbed = ("INNGEST_BASE_URL", "INNGEST_SERVE_URL", "DJANGO_SETTINGS_MODULE", "DEMO_ADMIN_PASSWORD")
    return {
        **{key: value for key, value in os.environ.items() if key not in scrubbed},
        "DJANGO_SETTINGS_MODULE": "nurturehub.settings",
        "ENV_FILE": "/nonexistent/.env",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CRM_ENCRYPTION_KEYS": "kVqY0oM6g0b1yqk2Yq7N2k3oXg0v9wR3bHc5m1Zt8aE=",
        "INNGEST_DEV": "false",
        "INNGEST_EVENT_KEY": "production-event-key",
        "INNGEST_SIGNING_KEY": "signkey-prod-" + "cd" * 32,
        "LOCAL_ENGINE_ENABLED": "true",
        "OPENAI_API_KEY": "sk-unused",
        "WEB_ADDRESS": address,
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "8",
        "DATABASE_POOL_MAX": "4",
        "ENGINE_WORKERS": "2",
    }


def _tail(lines: list[str]) -> str:
    return "".join(line[:300] + "\n" for line in lines[-15:])


@pytest.mark.django_db(transaction=True)
def test_run_all_starts_in_production_without_demo_users():
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_all"],
        cwd=ROOT,
        env=production_env(address),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240  # bounds a hung start only; nothing is timed
        while not any("Ctrl-C stops the web server" in line for line in seen):  # the banner's last line
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                if process.poll() is not None and lines.empty():
                    raise AssertionError(f"run_all exited ({process.returncode}):\n{_tail(seen)}") from None
                assert time.monotonic() < deadline, f"run_all did not start:\n{_tail(seen)}"
        ready = httpx.get(f"http://{address}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert not get_user_model().objects.exists()  # no demo users with a known password
        assert any("Login:  your admin user" in line for line in seen)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
