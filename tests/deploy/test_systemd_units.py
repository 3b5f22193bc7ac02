"""deploy/*.service: valid for systemd (`systemd-analyze verify`, Debian's systemd package, which .ci/run installs)
and stop timeouts longer than the graces they must wait for (gunicorn's graceful_timeout, ENGINE_SHUTDOWN_GRACE)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent.parent
UNITS = sorted((ROOT / "deploy").glob("*.service"))


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "deploy" / name)
    return parser


def test_there_are_units_for_web_engine_and_relay():
    assert [unit.name for unit in UNITS] == [
        "nurturehub-engine.service",
        "nurturehub-relay.service",
        "nurturehub-web.service",
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (.ci/run adds it)")
def test_systemd_analyze_verify_accepts_the_units_installed_at_this_checkout(tmp_path):
    """The units name /opt/nurturehub and a nurturehub user; here they point at this checkout and its venv, so
    verify also checks that every ExecStart is executable."""
    for unit in UNITS:
        text = unit.read_text().replace("/opt/nurturehub", str(ROOT))
        text = re.sub(r"^(User|Group)=nurturehub$", r"\1=root", text, flags=re.MULTILINE)
        (tmp_path / unit.name).write_text(text)
    assert (ROOT / ".venv" / "bin" / "python").exists()  # what ExecStart runs (make venv)
    verified = subprocess.run(  # noqa: S603
        ["systemd-analyze", "verify", *sorted(str(path) for path in tmp_path.glob("*.service"))],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr  # parse warnings ("ignoring: ...") count as failures


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, value
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_the_engines_stop_timeout_is_longer_than_its_grace():
    stop = _seconds(_unit("nurturehub-engine.service")["Service"]["TimeoutStopSec"])
    assert stop > settings.ENGINE_SHUTDOWN_GRACE


def test_the_web_stop_timeout_is_longer_than_gunicorns_graceful_timeout():
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "nurturehub/gunicorn_conf.py", "--print-config", "x:y"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "WEB_GRACEFUL_TIMEOUT"} | {"ENV_FILE": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    graceful = float(re.search(r"^graceful_timeout\s+= (\d+)$", printed.stdout, re.MULTILINE).group(1))
    stop = _seconds(_unit("nurturehub-web.service")["Service"]["TimeoutStopSec"])
    assert stop > graceful
