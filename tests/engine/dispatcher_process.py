"""`manage.py run_engine` as a process of its own, on the test's database, calling the test's live server.

Fault tests kill, freeze (SIGSTOP) and thaw these processes; the steps they call run in the test process, which
counts every execution.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection


def environment_on_test_database() -> dict[str, str]:
    """This process's environment, pointed at the test's database: DATABASE_URL's path when one is set, else the
    embedded server's database name. What every process a test starts (dispatchers, gunicorn) runs on."""
    env = dict(os.environ)
    test_db = connection.settings_dict["NAME"]
    if env.get("DATABASE_URL"):
        parts = urlsplit(env["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{test_db}"))
    else:
        env["EMBEDDED_DB_NAME"] = test_db
    return env


def dispatcher_process(
    engine, *, lease_seconds: float = 1, log: Path | None = None, **environment: str
) -> subprocess.Popen[bytes]:
    """Start one dispatcher process; its warnings go to `log` when given (else to the test's stderr)."""
    env = environment_on_test_database()
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "nurturehub.settings",
            "DEBUG": "true",
            "LOCAL_ENGINE_ENABLED": "true",
            "INNGEST_DEV": "true",
            "INNGEST_BASE_URL": engine.url,
            "ENGINE_APP_URLS": engine.serve_url,
            "ENGINE_WORKERS": "4",
            "ENGINE_DELAY_SCALE": "0.001",
            "ENGINE_LEASE_SECONDS": str(lease_seconds),
            "LOG_LEVEL": "WARNING",
            **environment,
        }
    )
    stderr = log.open("ab") if log is not None else None
    try:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_engine"],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    finally:
        if stderr is not None:
            stderr.close()  # the child has its own copy


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 60) -> int:
    """SIGTERM (a dispatcher finishes its requests in flight, then exits) and wait; SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
        process.terminate()
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode
