"""Shared start-up for the benchmark scripts: Django on a database of the bench's own, migrated, quiet logs.

Each script calls `setup_django("name")` before importing project code. Benchmarks use the embedded PostgreSQL
server (or DATABASE_URL) with a database per script, so they never touch development data.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(name: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nurturehub.settings")
    os.environ.setdefault("EMBEDDED_DB_NAME", f"nurturehub_bench_{name}")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    logging.disable(logging.WARNING)


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of `action` takes (perf_counter)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """The fastest of several runs: the figure least disturbed by other work on a shared machine."""
    return min(timed(action) for _ in range(repeats))
