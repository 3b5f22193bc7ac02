"""gunicorn's settings for NurtureHub (`gunicorn -c nurturehub/gunicorn_conf.py nurturehub.wsgi`).

Threaded workers (`gthread`): most requests to `/api/inngest` are a step waiting seconds on an AI provider or a
CRM, so each in-flight request holds a thread, not a process; CPU work is shared by `WEB_CONCURRENCY` processes.
The Django app and the Inngest SDK's serve view are synchronous, so an ASGI server would run them on one thread
per process (Django's `thread_sensitive` sync-to-async); gthread gives the same concurrency without that.
The environment is read as Django reads it (`nurturehub/env.py`: the process environment, then `ENV_FILE` or
`.env`), so gunicorn binds the `WEB_ADDRESS` that Django and the engine derive their URLs from.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # gunicorn may be started from anywhere

from nurturehub.env import load_env

load_env()

bind = os.environ.get("WEB_ADDRESS", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "64"))
# A worker that stops answering gunicorn's heartbeat for this long is restarted. With gthread the heartbeat comes
# from the worker's main loop, not from a request, so a 20 s AI call does not count against it.
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
# On a reload (SIGHUP) or a stop, a worker finishes the requests it holds for up to this long: longer than a slow
# provider call (OPENAI_TIMEOUT 60 s), so a deploy never cuts a step short (deploy/nurturehub-web.service).
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "90"))
# A gthread worker accepts connections up to `worker_connections` (default 1,000) and queues requests beyond its
# threads inside itself, even while another worker has idle threads: with steps waiting 20 s on a provider, a
# request could wait behind them for nothing (tests/web/test_gunicorn.py saw 100 requests split unevenly over
# 2 x 64 threads). Capping connections at the threads makes a full worker stop accepting, so the listen queue
# hands the next connection to a worker with a free thread. The price is keep-alive, which needs connections
# beyond the threads: off. The engine closes its connection after every step anyway (measured cheaper for its
# CPU, see jobs/engine/dispatcher.py `_call`).
worker_connections = threads
keepalive = 0
# Each worker shares a psycopg pool among its threads (settings.py, DATABASE_POOL) instead of opening a PostgreSQL
# connection per request: py-spy put 12% of the web workers' samples in opening connections under bench/scale.py,
# and PostgreSQL starts a backend for each. A step waiting on the AI provider gives its connection back meanwhile
# (jobs.steps.release_db_connection), so few connections serve many threads. Set here, before the workers load
# the settings; the environment still wins. WEB_CONCURRENCY x DATABASE_POOL_MAX plus the dispatchers' connections
# must stay under PostgreSQL's max_connections (100 by default).
os.environ.setdefault("DATABASE_POOL", "true")
os.environ.setdefault("DATABASE_POOL_MAX", "30")
# Request lines and headers: gunicorn's own limits (400 past them) stay on.
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
# gunicorn 27's control socket has one default path per user: several servers on one machine (make run beside the
# benchmarks or tests) would fight over it, and nothing here uses it.
control_socket_disable = True
