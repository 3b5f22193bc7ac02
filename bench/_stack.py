"""The process stack the engine, fairness, pipeline and scale benchmarks run against: the web server (gunicorn,
as `make run` and production start it: `nurturehub/web.py`) and one dispatcher (`manage.py run_engine`) as
processes of their own, as in production, on the
bench's own database. One place starts, waits for and stops them, so the three scripts measure the same thing.

Call `setup_django(...)` (bench/_setup.py) first: `Stack.start` reads the engine's tables to see the app synced.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _setup import ROOT

DEFAULT_SERVE_PATH = "/api/inngest"
#: The engine's test app (tests/engine/functions.py): tests.engine.bench_settings serves it at its own path.
TEST_APP_PATH = "/api/inngest-test"
TEST_APP_SYNCED_FUNCTION = "engine-tests-three-step"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process and its live children have used so far (Linux /proc): gunicorn's workers are
    children of the process the stack started, so they are counted with it."""
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue  # exited meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pids.extend(int(child) for child in children)
    return total


def database_cpu_seconds() -> float | None:
    """CPU the PostgreSQL server has used so far (every database on it): the postmaster, its live backends, and
    the backends it has reaped. None when the database is not the embedded server on this machine (DATABASE_URL)."""
    from django.conf import settings

    if os.environ.get("DATABASE_URL"):
        return None
    pid_file = Path(os.environ.get("EMBEDDED_DB_DIR", str(settings.BASE_DIR / ".data" / "postgres"))) / "postmaster.pid"
    try:
        postmaster = int(pid_file.read_text().split()[0])
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError, ValueError):
        return None
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return cpu_seconds(postmaster) + reaped


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def _database_url() -> str:
    """This process's database as a DATABASE_URL (the embedded server's socket directory as the `host` option)."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@:{db['PORT']}/{db['NAME']}?host={quote(db['HOST'])}"


@dataclass
class Stack:
    """A web server and one dispatcher on the bench database; what differs per bench is passed in explicitly."""

    name: str
    workers: int
    #: The function whose registration in the engine means the dispatcher has synced the app.
    synced_function: str
    settings_module: str = "nurturehub.settings"
    #: When set, the dispatcher serves only this app (ENGINE_APP_URLS) and the web server is probed there.
    app_path: str | None = None
    #: Settings this bench adds or overrides (AI server, connection reuse, ...).
    extra_env: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARNING"
    #: Keep the dispatcher's log (at INFO: one JSON line per dispatch) in a temp file for `dispatch_records`.
    capture_engine_log: bool = False
    #: Start a dispatcher process too (a bench that runs its own dispatcher in-process says False).
    with_dispatcher: bool = True
    #: Seconds for the web server to answer and the dispatcher to sync, together.
    startup_timeout: float = 180
    port: int = field(default_factory=_free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)
    engine_log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": self.settings_module,
                "EMBEDDED_DB_NAME": os.environ["EMBEDDED_DB_NAME"],
                "DEBUG": "false",  # as in production: no query log, no debug pages
                # ...so production's start-up checks apply (nurturehub/production.py): a real key, the database
                # as a URL (the bench's own database on the embedded server), and no developer's .env.
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DATABASE_URL": os.environ.get("DATABASE_URL") or _database_url(),
                "ENV_FILE": "/nonexistent/.env",
                "ALLOWED_HOSTS": "127.0.0.1",
                "CRM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "INNGEST_DEV": "true",
                "INNGEST_UNSIGNED_ON_CLOSED_NETWORK": "true",  # loopback only: no one else reaches it
                "LOCAL_ENGINE_ENABLED": "true",
                "INNGEST_BASE_URL": self.url,
                "INNGEST_SERVE_URL": f"{self.url}/api/inngest",
                "ENGINE_WORKERS": str(self.workers),
                "LOG_LEVEL": self.log_level,
            }
        )
        if self.app_path is not None:
            env["ENGINE_APP_URLS"] = f"{self.url}{self.app_path}"
        env.update(self.extra_env)
        if not env.get("OPENAI_API_KEY"):
            env["AI_WRITER"] = "template"  # production refuses to start with no AI provider unless this says so
        return env

    def start(self) -> None:
        import httpx

        from jobs.engine.models import Function
        from nurturehub.web import web_server_command

        manage = [sys.executable, str(ROOT / "manage.py")]
        env = self.env()
        self.processes.append(
            subprocess.Popen(  # noqa: S603
                web_server_command(f"127.0.0.1:{self.port}"),
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        probe = f"{self.url}{self.app_path or DEFAULT_SERVE_PATH}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if httpx.get(probe, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the web server did not start")
            time.sleep(0.2)
        if not self.with_dispatcher:
            return
        if self.capture_engine_log:
            self.engine_log = Path(tempfile.mkstemp(prefix=f"bench-{self.name}-", suffix=".log")[1])
            env["LOG_LEVEL"] = "INFO"  # one JSON line per dispatch, parsed for the overhead figures
            with self.engine_log.open("w") as log:
                self._start_dispatcher(manage, env, stderr=log)
        else:
            self._start_dispatcher(manage, env, stderr=subprocess.DEVNULL)
        # The function row survives from earlier runs on this database; only its app's URL being this stack's
        # (the dispatcher's sync updates it) says the runs will be sent here, not to a port that is gone.
        while not Function.objects.filter(
            slug=self.synced_function, archived_at__isnull=True, app__url__startswith=self.url
        ).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the dispatcher did not sync the app")
            time.sleep(0.2)

    def _start_dispatcher(self, manage: list[str], env: dict[str, str], *, stderr: object) -> None:
        self.processes.append(
            subprocess.Popen([*manage, "run_engine"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)  # noqa: S603
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def dispatch_records(self, since_line: int = 0) -> list[dict]:
        """The dispatcher's per-dispatch log records (needs `capture_engine_log`)."""
        if self.engine_log is None:
            raise RuntimeError("this stack does not capture the dispatcher's log")
        records = []
        for line in self.engine_log.read_text().splitlines()[since_line:]:
            if line.startswith("{") and '"msg": "dispatch"' in line:
                records.append(json.loads(line))
        return records


def ai_env(ai, *, timeout: float) -> dict[str, str]:
    """The stack's settings for a local OpenAI-compatible server (tests/fakes/openai_server.py)."""
    return {
        "OPENAI_API_KEY": ai.api_key,
        "OPENAI_BASE_URL": ai.base_url,
        "OPENAI_TIMEOUT": str(timeout),
        "CONN_MAX_AGE": "0",
    }


def test_app_stack(name: str, workers: int) -> Stack:
    """The stack of the engine benches: only the engine's test app, with the dispatcher's log kept."""
    return Stack(
        name,
        workers,
        synced_function=TEST_APP_SYNCED_FUNCTION,
        settings_module="tests.engine.bench_settings",
        app_path=TEST_APP_PATH,
        capture_engine_log=True,
    )


def clear_engine_tables() -> None:
    """Empty the engine's queue, runs and events, so a bench's counts start from zero."""
    from jobs.engine.models import Event, EventIdempotency, KeyQueue, QueueItem, Run

    QueueItem.objects.all().delete()
    Run.objects.all().delete()
    Event.objects.all().delete()
    EventIdempotency.objects.all().delete()
    KeyQueue.objects.all().delete()


def send_events(url: str, events: list[dict]) -> None:
    """Post events to the local engine's event API in batches of 5,000."""
    import httpx

    for start in range(0, len(events), 5000):
        response = httpx.post(f"{url}/e/bench", json=events[start : start + 5000], timeout=120)
        response.raise_for_status()
