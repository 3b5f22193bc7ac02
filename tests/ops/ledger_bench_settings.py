"""Settings for bench/ledger_cost.py's processes: the project's, the ledger tests' functions, and, when
`LEDGER_BENCH_COUNT_DIR` is set, a count of this process's SQL statements (all, and those on the run ledger's
tables), written to `<dir>/<role>-<pid>` when the process exits (gunicorn's workers exit through sys.exit)."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path

from nurturehub.settings import *  # noqa: F403

ROOT_URLCONF = "tests.ops.ledger_urls"

_COUNT_DIR = os.environ.get("LEDGER_BENCH_COUNT_DIR")
if _COUNT_DIR:
    from django.db.backends.signals import connection_created

    _counts = {"all": 0, "ledger": 0}
    _lock = threading.Lock()

    def _count(execute, sql, params, many, context):
        with _lock:
            _counts["all"] += 1
            if "jobs_jobrun" in sql or "jobs_stepattempt" in sql:
                _counts["ledger"] += 1
        return execute(sql, params, many, context)

    def _on_connection(sender, connection, **kwargs) -> None:
        if _count not in connection.execute_wrappers:
            connection.execute_wrappers.append(_count)

    def _write() -> None:
        role = "dispatcher" if "run_engine" in sys.argv else "web"
        Path(_COUNT_DIR, f"{role}-{os.getpid()}").write_text(f"{_counts['all']} {_counts['ledger']}")

    connection_created.connect(_on_connection, weak=False)
    atexit.register(_write)
