"""Engine throughput: N runs of a three-step no-op function through web server + dispatcher + PostgreSQL.

Starts the web server (gunicorn, as `make run` does) and one dispatcher (`manage.py run_engine`) as processes of their
own, as in production, on the bench's own database. Prints runs/s, steps/s, p50/p95 from event to completion and
the per-step engine overhead (dispatch time minus the SDK's own handling time, from its Server-Timing header).
Baselines, measured in the same run: the same requests made straight to the serve endpoint by the same number
of threads with no engine (no queue, no database); the ratio engine/direct is what the engine's bookkeeping costs.
And the engine with answer batching off (`ENGINE_ANSWER_BATCH=false`: each answer in its own transaction) against
on, a stack each, alternated `rounds` times: steps/s and the CPU per step of web, dispatcher and PostgreSQL
(/proc, as fence_cost.py reads it), and their ratios on/off.
Run: `.venv/bin/python bench/engine.py [runs] [workers] [rounds]` (defaults 1000, 8 and 1; aim: 250 steps/s).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass

from _setup import setup_django
from _stack import (
    TEST_APP_PATH,
    clear_engine_tables,
    cpu_seconds,
    database_cpu_seconds,
    percentile,
    send_events,
    test_app_stack,
)

FUNCTION = "engine-tests-three-step"
SERVE_PATH = TEST_APP_PATH


def wait_for_completed(function: str, count: int, *, timeout: float = 1800) -> None:
    from jobs.engine.models import Run

    deadline = time.monotonic() + timeout
    while Run.objects.filter(function__slug=function, status__in=["completed", "failed"]).count() < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{function}: runs did not finish within {timeout}s")
        time.sleep(0.1)


def direct_baseline(url: str, runs: int, threads: int) -> float:
    """Steps/s when the same requests go straight to the serve endpoint: the SDK and web cost, no engine."""
    import httpx

    from jobs.engine.protocol import canonical_json

    endpoint = f"{url}{SERVE_PATH}?fnId={FUNCTION}&stepId=step"
    counter = iter(range(runs))
    lock = threading.Lock()

    def one_run(client: httpx.Client, number: int) -> None:
        event = {"name": "test/three.step", "data": {"pause": 0}, "id": f"direct-{number}", "ts": 1, "user": {}}
        steps: dict[str, object] = {}
        while True:
            body = {
                "event": event,
                "events": [event],
                "steps": steps,
                "ctx": {
                    "run_id": f"direct-{number}",
                    "attempt": 0,
                    "max_attempts": 3,
                    "disable_immediate_execution": False,
                    "stack": {"stack": list(steps), "current": len(steps)},
                },
                "use_api": False,
            }
            headers = {"Content-Type": "application/json", "Connection": "close"}  # as the dispatcher sends
            response = client.post(endpoint, content=canonical_json(body), headers=headers)
            if response.status_code == 200:
                return
            for op in response.json():
                steps[op["id"]] = {"data": op.get("data")}

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                one_run(client, number)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return runs * 3 / (time.perf_counter() - started)


@dataclass
class Measured:
    steps_per_s: float
    runs_per_s: float
    failed: int
    records: int
    latencies: list[float]
    overheads: list[float]
    handler_times: list[float]
    step_times: list[float]
    cpu_ms: dict[str, float]  # per step: web, dispatcher, PostgreSQL
    batch_sizes: dict[int, int]  # answer batches stored, by size (none with batching off)


def measure(runs: int, workers: int, *, batch: bool, direct: bool = False) -> tuple[Measured, float | None]:
    """One stack (web server + dispatcher processes) with answer batching on or off; and, if `direct`, the direct
    calls' steps/s measured on it first."""
    from jobs.engine.models import Run

    clear_engine_tables()
    stack = test_app_stack("engine", workers)
    stack.extra_env["ENGINE_ANSWER_BATCH"] = "true" if batch else "false"
    stack.start()
    try:
        direct_steps_per_s = direct_baseline(stack.url, max(runs // 4, 50), workers) if direct else None
        log_start = len(stack.engine_log.read_text().splitlines())
        web, dispatcher = stack.processes
        cpu_before = cpu_seconds(web.pid), cpu_seconds(dispatcher.pid), database_cpu_seconds() or 0.0
        started = time.perf_counter()
        send_events(stack.url, [{"name": "test/three.step", "data": {"pause": 0}} for _ in range(runs)])
        wait_for_completed(FUNCTION, runs)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(web.pid), cpu_seconds(dispatcher.pid), database_cpu_seconds() or 0.0
        latencies = [
            (ended - received).total_seconds() * 1000
            for ended, received in Run.objects.filter(function__slug=FUNCTION).values_list(
                "ended_at", "event__received_at"
            )
        ]
        failed = Run.objects.filter(function__slug=FUNCTION).exclude(status="completed").count()
        records = stack.dispatch_records(log_start)
    finally:
        stack.stop()
    batch_sizes: dict[str, int] = {}  # the stopped dispatcher's last "answer batches" line (answer_batch.py)
    for line in stack.engine_log.read_text().splitlines()[log_start:]:
        if line.startswith("{") and '"msg": "answer batches"' in line:
            batch_sizes = json.loads(line).get("batch_sizes", {})
    # The SDK reports whole milliseconds (a no-op step is 0): means, not medians, say what a step costs it.
    timed = [r for r in records if r.get("handler_ms") is not None]
    steps = runs * 3
    cpu = {
        part: (after - before) * 1000 / steps
        for part, before, after in zip(("web", "dispatcher", "PostgreSQL"), cpu_before, cpu_after, strict=True)
    }
    measured = Measured(
        steps_per_s=steps / elapsed,
        runs_per_s=runs / elapsed,
        failed=failed,
        records=len(records),
        latencies=latencies,
        overheads=[r["duration_ms"] - r["handler_ms"] for r in timed],
        handler_times=[r["handler_ms"] for r in timed],
        step_times=[r["function_ms"] for r in timed if r.get("function_ms") is not None],
        cpu_ms=cpu,
        batch_sizes={int(size): count for size, count in batch_sizes.items()},
    )
    return measured, direct_steps_per_s


def report(label: str, m: Measured, direct_steps_per_s: float) -> None:
    print(f"  {label}")
    print(f"    runs/s                     {m.runs_per_s:8.1f}")
    print(f"    steps/s                    {m.steps_per_s:8.1f}   (aim: 250)")
    print(f"    ratio engine/direct        {m.steps_per_s / direct_steps_per_s:8.2f}   (aim: 0.70)")
    print(f"    requests dispatched        {m.records:8d}   (4 per run: 3 steps + the final call)")
    print(f"    failed runs                {m.failed:8d}")
    print(f"    event -> completed p50     {statistics.median(m.latencies):8.1f} ms")
    print(f"    event -> completed p95     {percentile(m.latencies, 0.95):8.1f} ms")
    overhead_p50, overhead_p95 = statistics.median(m.overheads), percentile(m.overheads, 0.95)
    print(f"    per-step engine overhead   {overhead_p50:8.2f} ms p50, {overhead_p95:.2f} ms p95")
    handler_mean, function_mean = statistics.fmean(m.handler_times), statistics.fmean(m.step_times)
    print(f"    the SDK's handling (mean)  {handler_mean:8.2f} ms, the function itself {function_mean:.2f} ms")
    if m.batch_sizes:
        answers, batches = sum(size * n for size, n in m.batch_sizes.items()), sum(m.batch_sizes.values())
        alone = m.batch_sizes.get(1, 0)
        print(f"    answer batches             {batches:8d}   ({answers / batches:.2f} answers each, {alone} alone,"
              f" largest {max(m.batch_sizes)})")  # fmt: skip
    cpu = m.cpu_ms
    print(
        f"    CPU per step: dispatcher   {cpu['dispatcher']:8.2f} ms, web {cpu['web']:.2f} ms,"
        f" PostgreSQL {cpu['PostgreSQL']:.2f} ms (all {sum(cpu.values()):.2f} ms)"
    )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    setup_django("engine")
    results: dict[bool, list[Measured]] = {False: [], True: []}
    direct_steps_per_s = 0.0
    for round_number in range(rounds):
        for batch in (True, False):  # alternated, so that a change in the machine's load falls on both
            measured, direct = measure(runs, workers, batch=batch, direct=round_number == 0 and batch)
            results[batch].append(measured)
            direct_steps_per_s = direct or direct_steps_per_s

    print(f"engine bench: {runs} runs x 3 no-op steps, {workers} dispatcher workers, web + engine + PostgreSQL")
    print(f"  baseline: direct calls     {direct_steps_per_s:8.1f} steps/s (same threads, no engine)")
    for batch in (False, True):
        for n, measured in enumerate(results[batch]):
            report(f"answer batching {'on' if batch else 'off'} (ENGINE_ANSWER_BATCH), round {n + 1}", measured,
                   direct_steps_per_s)  # fmt: skip
    on, off = results[True], results[False]
    rate_on = statistics.median(m.steps_per_s for m in on)
    rate_off = statistics.median(m.steps_per_s for m in off)
    print(f"  steps/s batching on/off    {rate_on / rate_off:8.3f}   (wall clock: moves with the machine's load)")
    for part in ("dispatcher", "web", "PostgreSQL"):
        part_on = statistics.median(m.cpu_ms[part] for m in on)
        part_off = statistics.median(m.cpu_ms[part] for m in off)
        print(f"  {part + ' CPU/step on/off':<26} {part_on / part_off:8.3f}   ({part_on:.2f} / {part_off:.2f} ms)")
    total_on = statistics.median(sum(m.cpu_ms.values()) for m in on)
    total_off = statistics.median(sum(m.cpu_ms.values()) for m in off)
    print(f"  all CPU/step on/off        {total_on / total_off:8.3f}   ({total_on:.2f} / {total_off:.2f} ms)")
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
