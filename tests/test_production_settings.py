"""Production settings refuse to start unsigned (DEBUG off, INNGEST_DEV on) unless told the network is closed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "nurturehub.settings",
    "DEBUG": "false",
    "SECRET_KEY": "production-like",
    "CRM_ENCRYPTION_KEYS": "kVqY0oM6g0b1yqk2Yq7N2k3oXg0v9wR3bHc5m1Zt8aE=",
    "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",  # the settings only: nothing connects
    "INNGEST_EVENT_KEY": "",
    "INNGEST_SIGNING_KEY": "",
}


def _load_settings(**overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION}
    env.pop("INNGEST_UNSIGNED_ON_CLOSED_NETWORK", None)
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_debug_off_with_dev_mode_and_no_keys_refuses_to_start():
    started = _load_settings(INNGEST_DEV="true")
    assert started.returncode != 0
    assert "INNGEST_UNSIGNED_ON_CLOSED_NETWORK" in started.stderr


def test_it_starts_when_the_network_is_declared_closed():
    started = _load_settings(INNGEST_DEV="true", INNGEST_UNSIGNED_ON_CLOSED_NETWORK="true")
    assert started.returncode == 0, started.stderr


def test_signed_production_starts():
    started = _load_settings(
        INNGEST_DEV="false", INNGEST_EVENT_KEY="ek", INNGEST_SIGNING_KEY="signkey-prod-" + "ab" * 32
    )
    assert started.returncode == 0, started.stderr
