"""The fence's throughput cost: bench/engine.py's no-op three-step runs with the fence on and off, in one run.

The fence (jobs/engine/fence.py) adds a header to each step request and one primary-key read to the serve
endpoint's handling of it. This starts the same stack as engine.py (gunicorn + one dispatcher + PostgreSQL) once
with `ENGINE_FENCE=false` (the dispatcher sends no fence, so nothing is checked: the baseline) and once with it on,
alternating `rounds` times (off, on, off, on, ...) so that a change in the machine's load falls on both, and prints
steps/s of each and the ratio on/off of the sums (aim: 0.95 or more, a cost under 5%).
Run: `.venv/bin/python bench/fence_cost.py [runs] [rounds] [workers]` (defaults 500, 2 and 8).
"""

from __future__ import annotations

import os
import sys
import time

from _setup import setup_django
from _stack import clear_engine_tables, send_events, test_app_stack
from engine import FUNCTION, wait_for_completed


def steps_per_second(runs: int, workers: int, *, fence: bool) -> tuple[float, int]:
    """One stack, `runs` runs; returns steps/s and how many requests the fence refused (0 expected)."""
    clear_engine_tables()
    stack = test_app_stack("fence", workers)
    stack.extra_env["ENGINE_FENCE"] = "true" if fence else "false"
    stack.start()
    try:
        log_start = len(stack.engine_log.read_text().splitlines())
        started = time.perf_counter()
        send_events(stack.url, [{"name": "test/three.step", "data": {"pause": 0}} for _ in range(runs)])
        wait_for_completed(FUNCTION, runs)
        elapsed = time.perf_counter() - started
        fenced = sum(record["outcome"] == "fenced" for record in stack.dispatch_records(log_start))
    finally:
        stack.stop()
    return runs * 3 / elapsed, fenced


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    setup_django("fence")
    results: dict[bool, list[float]] = {False: [], True: []}
    refused = 0
    for _ in range(rounds):
        for fence in (False, True):
            rate, fenced = steps_per_second(runs, workers, fence=fence)
            results[fence].append(rate)
            refused += fenced
    print(f"fence cost: {runs} runs x 3 no-op steps per stack, {rounds} rounds of off/on, web + engine + PostgreSQL")
    for fence, label in ((False, "fence off (baseline)"), (True, "fence on")):
        rates = ", ".join(f"{rate:.1f}" for rate in results[fence])
        print(f"  {label:22s} steps/s  {rates}")
    ratio = sum(results[True]) / sum(results[False])
    print(f"  requests refused by the fence {refused:5d}   (none expected: no dispatcher is frozen)")
    print(f"  machine load (1 min avg)      {os.getloadavg()[0]:5.2f}   on {os.cpu_count()} cores")
    print(f"  ratio on/off                  {ratio:5.3f}   (aim: 0.95 or more)")


if __name__ == "__main__":
    main()
