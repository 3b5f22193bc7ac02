"""The run ledger's cost per step: written by the local engine (JOBS_LEDGER_SOURCE=engine) or by the SDK middleware
on each step request (=sdk, as on Inngest Cloud), in one run.

The same stack as fence_cost.py (gunicorn as `make run` starts it + one `run_engine` + PostgreSQL), serving
`ledger-bench-three` (tests/ops/ledger_functions.py: three no-op steps on the project's client, so its middleware and
its ledger apply), started once per source, alternating `rounds` times (sdk, engine, sdk, engine, ...) so that a
change in the machine's load falls on both. Per step: the CPU of the web server (with its workers), the dispatcher
and the PostgreSQL server, read from /proc (fence_cost.py's reasons: on a shared machine CPU per step is steadier
than steps/s), and the SQL statements each process ran (all, and those on jobs_jobrun / jobs_stepattempt), counted
in the processes themselves (tests/ops/ledger_bench_settings.py). The baseline is the "sdk" source, the middleware
writing everything, measured in the same run. A third stack adds a tracker function on
`inngest/function.finished` (tests/ops/ledger_functions.py `bench_tracker`) to the "sdk" one: its extra CPU per
run is what such a function costs, to weigh against the middleware's writes (sdk - engine) it would replace.
Run: `.venv/bin/python bench/ledger_cost.py [runs] [rounds] [workers]` (defaults 300, 2 and 8).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _setup import setup_django
from _stack import Stack, clear_engine_tables, send_events
from fence_cost import _cpu_now

BENCH_PATH = "/api/ledger-bench"
TRACKED_BENCH_PATH = "/api/ledger-bench-tracked"  # the same function, and a tracker on inngest/function.finished
FUNCTION = "nurturehub-ledger-bench-three"
TRACKER = "nurturehub-ledger-bench-tracker"
#: Each configuration: its ledger source and its serve path.
CONFIGS = {"sdk": ("sdk", BENCH_PATH), "engine": ("engine", BENCH_PATH), "tracker": ("sdk", TRACKED_BENCH_PATH)}


@dataclass
class Measured:
    steps_per_s: float
    cpu_ms_per_step: dict[str, float]  # web, dispatcher, PostgreSQL
    statements_per_step: dict[str, float]  # web, web ledger, dispatcher, dispatcher ledger


def _counts(directory: Path) -> dict[str, int]:
    totals = {"web": 0, "web ledger": 0, "dispatcher": 0, "dispatcher ledger": 0}
    for path in directory.iterdir():
        role = path.name.split("-", 1)[0]
        every, ledger = (int(value) for value in path.read_text().split())
        totals[role] += every
        totals[f"{role} ledger"] += ledger
    return totals


def measure(runs: int, workers: int, *, config: str) -> Measured:
    from jobs.engine.models import Run
    from jobs.models import JobRun

    source, app_path = CONFIGS[config]
    clear_engine_tables()
    JobRun.objects.all().delete()
    count_dir = Path(tempfile.mkdtemp(prefix=f"ledger-cost-{config}-"))
    stack = Stack(
        "ledger",
        workers,
        synced_function=FUNCTION,
        settings_module="tests.ops.ledger_bench_settings",
        app_path=app_path,
        extra_env={"JOBS_LEDGER_SOURCE": source, "LEDGER_BENCH_COUNT_DIR": str(count_dir)},
    )
    stack.start()
    try:
        web, dispatcher = stack.processes
        cpu_before = _cpu_now(web.pid, dispatcher.pid)
        started = time.perf_counter()
        send_events(stack.url, [{"name": "bench/ledger.three", "data": {}} for _ in range(runs)])
        while Run.objects.filter(function__slug=FUNCTION, status="completed").count() < runs:
            time.sleep(0.1)
        while config == "tracker" and Run.objects.filter(function__slug=TRACKER, status="completed").count() < runs:
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_now(web.pid, dispatcher.pid)
    finally:
        stack.stop()
    completed = JobRun.objects.filter(function_id="ledger-bench-three", status="completed").count()
    if completed != runs:
        raise SystemExit(f"ledger cost ({config}): {completed} of {runs} runs completed in the ledger")
    steps = runs * 3
    counts = _counts(count_dir)  # written when the processes exit: start-up's statements are in them too
    return Measured(
        steps / elapsed,
        {part: (cpu_after[part] - cpu_before[part]) * 1000 / steps for part in cpu_before},
        {role: count / steps for role, count in counts.items()},
    )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    setup_django("ledger_cost")
    results: dict[str, list[Measured]] = {config: [] for config in CONFIGS}
    for _ in range(rounds):
        for config in CONFIGS:
            results[config].append(measure(runs, workers, config=config))
    print(f"ledger cost: {runs} runs x 3 no-op steps per stack, {rounds} rounds of sdk/engine/tracker")
    cpu: dict[str, dict[str, float]] = {}
    statements: dict[str, dict[str, float]] = {}
    for source, label in (
        ("sdk", "middleware writes (baseline)"),
        ("engine", "engine-fed ledger"),
        ("tracker", "middleware + a tracker function on inngest/function.finished"),
    ):
        measured = results[source]
        print(f"  {label}")
        print(f"    steps/s                          {', '.join(f'{m.steps_per_s:.1f}' for m in measured)}")
        cpu[source] = {
            part: statistics.median(m.cpu_ms_per_step[part] for m in measured) for part in measured[0].cpu_ms_per_step
        }
        statements[source] = {
            role: statistics.median(m.statements_per_step[role] for m in measured)
            for role in measured[0].statements_per_step
        }
        for part, value in cpu[source].items():
            print(f"    CPU {part:28s} {value:6.2f} ms per step (median)")
        for role, value in statements[source].items():
            print(f"    statements {role:21s} {value:6.2f} per step (median; start-up included)")
    parts = ("web", "dispatcher", "PostgreSQL")
    all_cpu = {source: sum(cpu[source][part] for part in parts) for source in cpu}
    print(f"  machine load (1 min avg)           {os.getloadavg()[0]:5.2f}   on {os.cpu_count()} cores")
    print(f"  web CPU per step engine/sdk        {cpu['engine']['web'] / cpu['sdk']['web']:5.3f}")
    print(f"  all CPU per step engine/sdk        {all_cpu['engine'] / all_cpu['sdk']:5.3f}")
    web_statements = statements["engine"]["web"] / statements["sdk"]["web"]
    print(f"  web statements per step engine/sdk {web_statements:5.3f}")
    tracker_ms = (all_cpu["tracker"] - all_cpu["sdk"]) * 3
    print(f"  a tracker function's CPU per run   {tracker_ms:5.2f} ms (web + engine + PostgreSQL; tracker - sdk)")
    saved_ms = (all_cpu["sdk"] - all_cpu["engine"]) * 3
    print(f"  the middleware's writes per run    {saved_ms:5.2f} ms (sdk - engine: all it could save at most)")


if __name__ == "__main__":
    main()
