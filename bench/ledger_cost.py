"""The run ledger's cost per step: written by the local engine (JOBS_LEDGER_SOURCE=engine) or by the SDK middleware
on each step request (=sdk, as on Inngest Cloud), in one run.

The same stack as fence_cost.py (gunicorn as `make run` starts it + one `run_engine` + PostgreSQL), serving
`ledger-bench-three` (tests/ops/ledger_functions.py: three no-op steps on the project's client, so its middleware and
its ledger apply), started once per source, alternating `rounds` times (sdk, engine, sdk, engine, ...) so that a
change in the machine's load falls on both. Per step: the CPU of the web server (with its workers), the dispatcher
and the PostgreSQL server, read from /proc (fence_cost.py's reasons: on a shared machine CPU per step is steadier
than steps/s), and the SQL statements each process ran (all, and those on jobs_jobrun / jobs_stepattempt), counted
in the processes themselves (tests/ops/ledger_bench_settings.py). The baseline is the "sdk" source, the middleware
writing everything, measured in the same run.
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
FUNCTION = "nurturehub-ledger-bench-three"


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


def measure(runs: int, workers: int, *, source: str) -> Measured:
    from jobs.engine.models import Run
    from jobs.models import JobRun

    clear_engine_tables()
    JobRun.objects.all().delete()
    count_dir = Path(tempfile.mkdtemp(prefix=f"ledger-cost-{source}-"))
    stack = Stack(
        "ledger",
        workers,
        synced_function=FUNCTION,
        settings_module="tests.ops.ledger_bench_settings",
        app_path=BENCH_PATH,
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
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_now(web.pid, dispatcher.pid)
    finally:
        stack.stop()
    completed = JobRun.objects.filter(function_id="ledger-bench-three", status="completed").count()
    if completed != runs:
        raise SystemExit(f"ledger cost ({source}): {completed} of {runs} runs completed in the ledger")
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
    results: dict[str, list[Measured]] = {"sdk": [], "engine": []}
    for _ in range(rounds):
        for source in ("sdk", "engine"):
            results[source].append(measure(runs, workers, source=source))
    print(f"ledger cost: {runs} runs x 3 no-op steps per stack, {rounds} rounds of sdk/engine")
    cpu: dict[str, dict[str, float]] = {}
    statements: dict[str, dict[str, float]] = {}
    for source, label in (("sdk", "middleware writes (baseline)"), ("engine", "engine-fed ledger")):
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


if __name__ == "__main__":
    main()
