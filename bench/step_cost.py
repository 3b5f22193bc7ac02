"""Engine work per step: the SQL statements and database round trips the dispatcher makes for each step.

Runs N runs of the three-step no-op function (tests/engine/functions.py) through one dispatcher in this process,
against the web server (gunicorn) as a process of its own, on the bench's own database. Every statement the
dispatcher's connections run is counted (a Django execute wrapper on each connection), and every transaction they
commit, by the thread that ran it: the claim loop (claims, reaper, cron), the database threads (building requests,
storing answers) and the heartbeat. A call may send several statements in one simple query (item_lock: the run's
lock, then the item's): each is counted as a statement, the call as one round trip. Round trips are the calls plus
BEGIN and COMMIT of each transaction.
Baseline, in the same run: the same runs with answer batching off (`Dispatcher(answer_batch=False)`: each answer
in a transaction of its own), alternated with batching on `rounds` times; the figures are per step (a step is one
request; a run also ends with one), with this process's CPU (the dispatcher) and the PostgreSQL server's per step.
Run: `.venv/bin/python bench/step_cost.py [runs] [max_in_flight] [rounds]` (defaults 300, 500 and 1).
"""

from __future__ import annotations

import os
import re
import statistics
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
        KINDS[re.sub(r"answer_[0-9]+", "answer_n", " ".join(sql.split()[:4]))[:60]] += 1
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


def measure(stack, runs: int, max_in_flight: int, *, batch: bool) -> dict:
    """One dispatcher in this process runs `runs` runs with answer batching on or off; the counts and CPU it took."""
    from _stack import cpu_seconds, database_cpu_seconds

    from jobs.engine.dispatcher import Dispatcher
    from jobs.engine.models import Run

    clear_engine_tables()
    dispatcher = Dispatcher(app_urls=[f"{stack.url}{TEST_APP_PATH}"], max_in_flight=max_in_flight, answer_batch=batch)
    if errors := dispatcher.sync_apps():
        raise SystemExit(f"sync failed: {errors}")
    for counter in (STATEMENTS, CALLS, COMMITS, KINDS):
        counter.clear()
    requests: list[object] = []
    dispatcher.on_dispatch = requests.append
    dispatcher.start()
    cpu_before = cpu_seconds(os.getpid()), database_cpu_seconds() or 0.0
    send_events(stack.url, [{"name": "test/three.step", "data": {"pause": 0}} for _ in range(runs)])
    while Run.objects.filter(status__in=["completed", "failed"]).count() < runs:
        time.sleep(0.1)
    cpu_after = cpu_seconds(os.getpid()), database_cpu_seconds() or 0.0
    dispatcher.stop()
    steps = runs * 3
    return {
        "requests": len(requests),
        "statements": Counter(STATEMENTS),
        "calls": Counter(CALLS),
        "commits": Counter(COMMITS),
        "kinds": Counter(KINDS),
        "batches": Counter(dispatcher.answers.batch_sizes),
        "cpu_ms": (cpu_after[0] - cpu_before[0]) * 1000 / steps,  # this process: the dispatcher (and a 10 Hz poll)
        "db_cpu_ms": (cpu_after[1] - cpu_before[1]) * 1000 / steps,
    }


def report(label: str, m: dict, steps: int) -> float:
    """Print one measurement; returns its round trips per step."""
    statements, calls, commits = m["statements"], m["calls"], m["commits"]
    print(f"  {label}")
    print(f"    requests made              {m['requests']:8d}   (4 per run: 3 steps + the final call)")
    for role in ("claims", "requests", "heartbeat", "other"):
        print(
            f"    {role:<10} statements/step {statements[role] / steps:6.2f}, round trips/step"
            f" {(calls[role] + 2 * commits[role]) / steps:6.2f}   ({commits[role] / steps:.2f} transactions/step)"
        )
    trips = sum(calls.values()) + 2 * sum(commits.values())
    print(
        f"    all        statements/step {sum(statements.values()) / steps:6.2f}, round trips/step {trips / steps:6.2f}"
    )
    batches = m["batches"]
    if batches:
        answers, count = sum(size * n for size, n in batches.items()), sum(batches.values())
        print(
            f"    answer batches             {count:8d}   ({answers / count:.2f} answers each, largest {max(batches)})"
        )
    print(f"    CPU per step: dispatcher   {m['cpu_ms']:8.2f} ms, PostgreSQL {m['db_cpu_ms']:.2f} ms")
    print("    statements (per step):")
    for kind, count in m["kinds"].most_common(16):
        print(f"      {count / steps:6.2f}  {kind}")
    return trips / steps


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    max_in_flight = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
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
    install_counters()
    results: dict[bool, list[dict]] = {False: [], True: []}
    try:
        for _ in range(rounds):
            for batch in (False, True):  # alternated, so that a change in the machine's load falls on both
                results[batch].append(measure(stack, runs, max_in_flight, batch=batch))
    finally:
        stack.stop()

    steps = runs * 3
    print(f"engine work per step: {runs} runs x 3 no-op steps, up to {max_in_flight} in flight, one dispatcher,")
    print(f"  answer batching off (the baseline) and on, {rounds} round(s), in this run")
    trips = {}
    for batch in (False, True):
        for n, measured in enumerate(results[batch]):
            label = f"batching {'on' if batch else 'off (baseline)'}, round {n + 1}"
            trips[batch] = report(label, measured, steps)
    cpu = {batch: statistics.median(m["cpu_ms"] for m in results[batch]) for batch in results}
    db_cpu = {batch: statistics.median(m["db_cpu_ms"] for m in results[batch]) for batch in results}
    print(f"  round trips per step on/off          {trips[True] / trips[False]:6.3f}")
    on, off = cpu[True], cpu[False]
    print(f"  dispatcher CPU per step on/off       {on / off:6.3f}   ({on:.2f} / {off:.2f} ms)")
    print(
        f"  PostgreSQL CPU per step on/off       {db_cpu[True] / db_cpu[False]:6.3f}"
        f"   ({db_cpu[True]:.2f} / {db_cpu[False]:.2f} ms)"
    )
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
