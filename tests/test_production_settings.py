"""Production settings (DEBUG=false) refuse to start on unsafe configuration, saying what to do (issue 20).

Each case loads the settings in a fresh process, as gunicorn or a management command would, with an env file
of our own (ENV_FILE), so nothing from the machine's environment or a local `.env` leaks in.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIGNING_KEY = "signkey-prod-" + "ab" * 32
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "nurturehub.settings",
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "CRM_ENCRYPTION_KEYS": "kVqY0oM6g0b1yqk2Yq7N2k3oXg0v9wR3bHc5m1Zt8aE=",
    "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",  # the settings only: nothing connects
    "ALLOWED_HOSTS": "127.0.0.1",
    "INNGEST_EVENT_KEY": "",
    "INNGEST_SIGNING_KEY": "",
    "OPENAI_API_KEY": "sk-production",
}
# Variables a developer's shell (or the test run) may carry that would change what is being tested.
SCRUBBED = (
    "INNGEST_UNSIGNED_ON_CLOSED_NETWORK",
    "INNGEST_BASE_URL",
    "INNGEST_SERVE_URL",
    "INNGEST_DEV",
    "LOCAL_ENGINE_ENABLED",
    "ENGINE_APP_URLS",
    "WEB_ADDRESS",
    "AI_WRITER",
    "DEMO_ADMIN_PASSWORD",
    "ENV_FILE",
)
SIGNED = {"INNGEST_DEV": "false", "INNGEST_EVENT_KEY": "ek", "INNGEST_SIGNING_KEY": SIGNING_KEY}


def _run(code: str, tmp_path: Path | None = None, env_file: str = "", **overrides: str):
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    env.update(PRODUCTION)
    env["ENV_FILE"] = str(tmp_path / "none.env") if tmp_path else "/nonexistent/.env"
    if env_file:
        env["ENV_FILE"] = env_file
    env.update(overrides)
    return subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _load_settings(**overrides: str) -> subprocess.CompletedProcess:
    return _run("import django; django.setup()", **overrides)


def test_debug_off_with_dev_mode_and_no_keys_refuses_to_start():
    started = _load_settings(INNGEST_DEV="true")
    assert started.returncode != 0
    assert "INNGEST_UNSIGNED_ON_CLOSED_NETWORK" in started.stderr


def test_it_starts_when_the_network_is_declared_closed():
    started = _load_settings(INNGEST_DEV="true", INNGEST_UNSIGNED_ON_CLOSED_NETWORK="true")
    assert started.returncode == 0, started.stderr


def test_signed_production_starts():
    started = _load_settings(**SIGNED)
    assert started.returncode == 0, started.stderr


def test_no_database_url_refuses_and_never_starts_the_embedded_server(tmp_path):
    embedded = tmp_path / "embedded"
    started = _load_settings(**SIGNED, DATABASE_URL="", EMBEDDED_DB_DIR=str(embedded))
    assert started.returncode != 0
    assert "DATABASE_URL is empty" in started.stderr
    assert "postgres://USER:PASSWORD@HOST:PORT/NAME" in started.stderr
    assert not embedded.exists()


@pytest.mark.parametrize("key", ["Zq3lU9x_random-urlsafe-secret", "signkey-prod-nothex", "signkey-prod-abc"])
def test_a_malformed_signing_key_refuses_and_names_the_format(key):
    started = _load_settings(**{**SIGNED, "INNGEST_SIGNING_KEY": key})
    assert started.returncode != 0
    assert "signkey-<env>-<hex>" in started.stderr


def test_a_serve_url_whose_host_is_not_allowed_refuses():
    started = _load_settings(**SIGNED, INNGEST_SERVE_URL="https://app.example.com/api/inngest")
    assert started.returncode != 0
    assert "(app.example.com) that is not in ALLOWED_HOSTS (127.0.0.1)" in started.stderr
    allowed = _load_settings(
        **SIGNED, INNGEST_SERVE_URL="https://app.example.com/api/inngest", ALLOWED_HOSTS="127.0.0.1,.example.com"
    )
    assert allowed.returncode == 0, allowed.stderr


def test_no_ai_provider_refuses_unless_the_template_writer_is_chosen():
    started = _load_settings(**SIGNED, OPENAI_API_KEY="")
    assert started.returncode != 0
    assert "AI_WRITER=template" in started.stderr
    chosen = _run(
        "import django; django.setup(); from jobs.ai.writers import writer_from_settings;"
        "print(type(writer_from_settings()).__name__)",
        **SIGNED,
        OPENAI_API_KEY="",
        AI_WRITER="template",
    )
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == "TemplateWriter"


def test_demo_data_refuses():
    started = _load_settings(**SIGNED, DEMO_ADMIN_PASSWORD="nurturehub")
    assert started.returncode != 0
    assert "DEMO_ADMIN_PASSWORD is set" in started.stderr


def test_every_problem_is_listed_at_once():
    started = _load_settings(**SIGNED, DATABASE_URL="", SECRET_KEY="change-me", OPENAI_API_KEY="")
    assert started.returncode != 0
    assert re.findall(r"^  - (DATABASE_URL|SECRET_KEY|No AI provider)", started.stderr, re.MULTILINE) == [
        "DATABASE_URL",
        "SECRET_KEY",
        "No AI provider",
    ]


def test_with_the_local_engine_the_inngest_urls_default_to_this_server():
    printed = _run(
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.INNGEST_BASE_URL, settings.INNGEST_SERVE_URL)",
        **SIGNED,
        LOCAL_ENGINE_ENABLED="true",
        WEB_ADDRESS="127.0.0.1:8123",
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.split() == ["http://127.0.0.1:8123", "http://127.0.0.1:8123/api/inngest"]


def _production_example(tmp_path: Path, database_url: str = "postgres://nobody@127.0.0.1:9/none") -> Path:
    """`.env.production.example` with its empty secrets filled in, as the doc says to."""
    filled = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "CRM_ENCRYPTION_KEYS": PRODUCTION["CRM_ENCRYPTION_KEYS"],
        "INNGEST_EVENT_KEY": "ek",
        "INNGEST_SIGNING_KEY": SIGNING_KEY,
        "OPENAI_API_KEY": "sk-production",
    }
    lines = []
    for line in (ROOT / ".env.production.example").read_text().splitlines():
        name, equals, value = line.partition("=")
        if equals and not line.startswith("#") and name in filled:
            assert value == "", f"the example must leave {name} empty, not ship a value"
            line = f"{name}={filled[name]}"
        lines.append(line)
    path = tmp_path / "production.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_check_deploy_is_clean_with_the_production_example(tmp_path):
    env_file = _production_example(tmp_path)
    scrub = {key: "" for key in PRODUCTION if key != "DJANGO_SETTINGS_MODULE"}  # only the file speaks
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in SCRUBBED and k not in scrub},
            "ENV_FILE": str(env_file),
            "DJANGO_SETTINGS_MODULE": "nurturehub.settings",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout


def test_the_bare_example_refuses_and_says_what_to_fill_in(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and k not in PRODUCTION}
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "ENV_FILE": str(ROOT / ".env.production.example"), "DJANGO_SETTINGS_MODULE": "nurturehub.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode != 0
    for empty in ("DATABASE_URL", "SECRET_KEY", "CRM_ENCRYPTION_KEYS", "INNGEST_EVENT_KEY", "No AI provider"):
        assert empty in started.stderr


def test_gunicorn_reads_the_same_env_file_as_django(tmp_path):
    env_file = tmp_path / "web.env"
    env_file.write_text("WEB_ADDRESS=127.0.0.1:8765\nWEB_THREADS=7\n")
    config = ROOT / "nurturehub" / "gunicorn_conf.py"
    printed = _run(
        "import sys; from gunicorn.app.wsgiapp import run;"
        f"sys.argv = ['gunicorn', '--config', {str(config)!r}, '--print-config', 'nurturehub.wsgi:application'];"
        "run()",
        env_file=str(env_file),
        **SIGNED,
    )
    assert printed.returncode == 0, printed.stderr
    assert re.search(r"^bind\s+= \['127.0.0.1:8765'\]$", printed.stdout, re.MULTILINE), printed.stdout
    assert re.search(r"^threads\s+= 7$", printed.stdout, re.MULTILINE)


def test_seed_demo_refuses_in_production():
    seeded = _run(
        "import sys, django; django.setup(); from django.core.management import call_command;"
        "from django.core.management.base import CommandError\n"
        "try:\n    call_command('seed_demo')\nexcept CommandError as error:\n    sys.exit(str(error))",
        **SIGNED,
    )
    assert seeded.returncode != 0
    assert "seed_demo refuses to run with DEBUG=false" in seeded.stderr


def test_a_secret_key_starting_with_a_dollar_is_refused_for_what_it_is():
    """django-environ reads `$name` as another variable (here unset: an empty key); say so, not just "too short"."""
    started = _load_settings(**SIGNED, SECRET_KEY="$" + secrets.token_urlsafe(50))
    assert started.returncode != 0
    assert "SECRET_KEY starts with `$`" in started.stderr
