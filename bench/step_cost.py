"""Engine work per step: the SQL statements and database round trips the dispatcher makes for each step.

Runs N runs of the three-step no-op function (tests/engine/functions.py) through one dispatcher in this process,
against the web server (gunicorn) as a process of its own, on the bench's own database. Every statement the
dispatcher's connections run is counted (a Django execute wrapper on each connection), and every transaction they
commit, by the thread that ran it: the claim loop (claims, reaper, cron), the database threads (building requests,
storing answers) and the heartbeat. A call may send several statements in one simple query (item_lock: the run's
lock, then the item's): each is counted as a statement, the call as one round trip. Round trips are the calls plus
BEGIN and COMMIT of each transaction.
Baseline, in the same run: the requests made (a step is one request; a run also ends with one); the figures are
per step and per request.
Run: `.venv/bin/python bench/step_cost.py [runs] [max_in_flight]` (defaults 300 and 500).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter

from _setup import setup_django
from _stack import TEST_APP_PATH, Stack, clear_engine_tables, send_events

STATEMENTS: Counter[str] = Counter()
CALLS: Counter[str] = Counter()
COMMITS: Counter[str] = Counter()
KINDS: Counter[str] = Counter()
_lock = threading.Lock()


def _role() -> str:
    name = threading.current_thread().name
    if name.startswith("engine-db"):
        return "requests"
    return {"engine-claims": "claims", "engine-heartbeat": "heartbeat"}.get(name, "other")


def _count_statement(execute, sql, params, many, context):
    with _lock:
        STATEMENTS[_role()] += sql.strip().rstrip(";").count(";") + 1  # the engine's SQL has no `;` in a literal
        CALLS[_role()] += 1
        KINDS[" ".join(sql.split()[:4])[:60]] += 1
    return execute(sql, params, many, context)


def install_counters() -> None:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.signals import connection_created

    def count_on(sender, connection, **kwargs) -> None:
        connection.execute_wrappers.append(_count_statement)

    connection_created.connect(count_on, weak=False)
    commit = BaseDatabaseWrapper.commit

    def counted_commit(self) -> None:
        with _lock:
            COMMITS[_role()] += 1
        commit(self)

    BaseDatabaseWrapper.commit = counted_commit


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    max_in_flight = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    os.environ.update({"INNGEST_DEV": "true", "LOCAL_ENGINE_ENABLED": "true"})
    setup_django("step_cost")
    clear_engine_tables()
    stack = Stack(
        "step_cost",
        8,
        synced_function="",
        settings_module="tests.engine.bench_settings",
        app_path=TEST_APP_PATH,
        with_dispatcher=False,
    )
    stack.start()
    try:
        from jobs.engine.dispatcher import Dispatcher
        from jobs.engine.models import Run

        dispatcher = Dispatcher(app_urls=[f"{stack.url}{TEST_APP_PATH}"], max_in_flight=max_in_flight)
        if errors := dispatcher.sync_apps():
            raise SystemExit(f"sync failed: {errors}")
        install_counters()
        requests: list[object] = []
        dispatcher.on_dispatch = requests.append
        dispatcher.start()
        send_events(stack.url, [{"name": "test/three.step", "data": {"pause": 0}} for _ in range(runs)])
        while Run.objects.filter(status__in=["completed", "failed"]).count() < runs:
            time.sleep(0.1)
        dispatcher.stop()
    finally:
        stack.stop()

    steps = runs * 3
    print(f"engine work per step: {runs} runs x 3 no-op steps, up to {max_in_flight} in flight, one dispatcher")
    print(f"  requests made              {len(requests):8d}   (baseline: 4 per run, 3 steps + the final call)")
    for role in ("claims", "requests", "heartbeat", "other"):
        statements, calls, commits = STATEMENTS[role], CALLS[role], COMMITS[role]
        print(
            f"  {role:<10} statements/step {statements / steps:6.2f}, round trips/step"
            f" {(calls + 2 * commits) / steps:6.2f}   ({commits / steps:.2f} transactions/step)"
        )
    statements, commits = sum(STATEMENTS.values()), sum(COMMITS.values())
    trips = sum(CALLS.values()) + 2 * commits
    print(f"  all        statements/step {statements / steps:6.2f}, round trips/step {trips / steps:6.2f}")
    print(f"  per request: statements {statements / len(requests):.2f}, round trips {trips / len(requests):.2f}")
    print("  most frequent statements (per step):")
    for kind, count in KINDS.most_common(8):
        print(f"    {count / steps:6.2f}  {kind}")
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
