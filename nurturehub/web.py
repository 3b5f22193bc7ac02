"""The command that starts the web server, shared by `manage.py run_all` and the benchmarks' process stack.

One place, so that `make run` and `bench/` measure what production runs: gunicorn with threaded workers
(`nurturehub/gunicorn_conf.py`), static files by whitenoise.
"""

from __future__ import annotations

import sys
from pathlib import Path

CONFIG = Path(__file__).with_name("gunicorn_conf.py")


def web_server_command(address: str) -> list[str]:
    """gunicorn serving the project's WSGI app on `address` (host:port), configured by gunicorn_conf.py."""
    return [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), "--bind", address, "nurturehub.wsgi:application"]
