"""Engine throughput: N runs of a three-step no-op function through web server + dispatcher + PostgreSQL.

Starts the web server (gunicorn, as `make run` does) and one dispatcher (`manage.py run_engine`) as processes of their
own, as in production, on the bench's own database. Prints runs/s, steps/s, p50/p95 from event to completion and
the per-step engine overhead (dispatch time minus the SDK's own handling time, from its Server-Timing header).
Baseline, measured in the same run: the same requests made straight to the serve endpoint by the same number
of threads with no engine (no queue, no database); the ratio engine/direct is what the engine's bookkeeping costs.
Run: `.venv/bin/python bench/engine.py [runs] [workers]` (defaults 1000 and 8; aim: 250 steps/s or more).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

from _setup import setup_django
from _stack import TEST_APP_PATH, clear_engine_tables, cpu_seconds, percentile, send_events, test_app_stack

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


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    setup_django("engine")
    clear_engine_tables()
    stack = test_app_stack("engine", workers)
    stack.start()
    try:
        direct_steps_per_s = direct_baseline(stack.url, max(runs // 4, 50), workers)

        from jobs.engine.models import Run

        log_start = len(stack.engine_log.read_text().splitlines())
        web, dispatcher = stack.processes
        cpu_before = cpu_seconds(web.pid), cpu_seconds(dispatcher.pid)
        started = time.perf_counter()
        send_events(stack.url, [{"name": "test/three.step", "data": {"pause": 0}} for _ in range(runs)])
        wait_for_completed(FUNCTION, runs)
        elapsed = time.perf_counter() - started
        web_cpu = cpu_seconds(web.pid) - cpu_before[0]
        engine_cpu = cpu_seconds(dispatcher.pid) - cpu_before[1]
        latencies = [
            (ended - received).total_seconds() * 1000
            for ended, received in Run.objects.filter(function__slug=FUNCTION).values_list(
                "ended_at", "event__received_at"
            )
        ]
        failed = Run.objects.filter(function__slug=FUNCTION).exclude(status="completed").count()
        records = stack.dispatch_records(log_start)
        # The SDK reports whole milliseconds (a no-op step is 0): means, not medians, say what a step costs it.
        timed = [r for r in records if r.get("handler_ms") is not None]
        overheads = [r["duration_ms"] - r["handler_ms"] for r in timed]
        handler_times = [r["handler_ms"] for r in timed]
        step_times = [r["function_ms"] for r in timed if r.get("function_ms") is not None]
    finally:
        stack.stop()

    steps_per_s = runs * 3 / elapsed
    print(f"engine bench: {runs} runs x 3 no-op steps, {workers} dispatcher workers, web + engine + PostgreSQL")
    print(f"  runs/s                     {runs / elapsed:8.1f}")
    print(f"  steps/s                    {steps_per_s:8.1f}   (aim: 250)")
    print(f"  requests dispatched        {len(records):8d}   (4 per run: 3 steps + the final call)")
    print(f"  failed runs                {failed:8d}")
    print(f"  event -> completed p50     {statistics.median(latencies):8.1f} ms")
    print(f"  event -> completed p95     {percentile(latencies, 0.95):8.1f} ms")
    overhead_p50, overhead_p95 = statistics.median(overheads), percentile(overheads, 0.95)
    print(f"  per-step engine overhead   {overhead_p50:8.2f} ms p50, {overhead_p95:.2f} ms p95")
    handler_mean, function_mean = statistics.fmean(handler_times), statistics.fmean(step_times)
    print(f"  the SDK's handling (mean)  {handler_mean:8.2f} ms, the function itself {function_mean:.2f} ms")
    engine_cpu_ms, web_cpu_ms = engine_cpu * 1000 / (runs * 3), web_cpu * 1000 / (runs * 3)
    print(f"  CPU per step: dispatcher   {engine_cpu_ms:8.2f} ms, web {web_cpu_ms:.2f} ms")
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")
    print(f"  baseline: direct calls     {direct_steps_per_s:8.1f} steps/s (same threads, no engine)")
    print(f"  ratio engine/direct        {steps_per_s / direct_steps_per_s:8.2f}")


if __name__ == "__main__":
    main()
