"""Engine throughput: N runs of a three-step no-op function through web server + dispatcher + PostgreSQL.

Starts the web server (`manage.py runserver`) and one dispatcher (`manage.py run_engine`) as processes of their
own, as in production, on the bench's own database. Prints runs/s, steps/s, p50/p95 from event to completion and
the per-step engine overhead (dispatch time minus the time the step itself took, from the SDK's Server-Timing).
Baseline, measured in the same run: the same requests made straight to the serve endpoint by the same number
of threads with no engine (no queue, no database); the ratio engine/direct is what the engine's bookkeeping costs.
Run: `.venv/bin/python bench/engine.py [runs] [workers]` (defaults 1000 and 8; aim: 250 steps/s or more).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _setup import ROOT, setup_django

FUNCTION = "engine-tests-three-step"
SERVE_PATH = "/api/inngest-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


@dataclass
class Stack:
    """A web server and a dispatcher on the bench database, with the dispatcher's log captured."""

    name: str
    workers: int
    port: int = field(default_factory=_free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)
    engine_log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "tests.engine.bench_settings",
                "EMBEDDED_DB_NAME": os.environ["EMBEDDED_DB_NAME"],
                "DEBUG": "false",  # as in production: no query log, no debug pages
                "SECRET_KEY": "bench-only",
                "ALLOWED_HOSTS": "127.0.0.1",
                "CRM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "INNGEST_DEV": "true",
                "LOCAL_ENGINE_ENABLED": "true",
                "INNGEST_BASE_URL": self.url,
                "INNGEST_SERVE_URL": f"{self.url}/api/inngest",
                "ENGINE_APP_URLS": f"{self.url}{SERVE_PATH}",
                "ENGINE_WORKERS": str(self.workers),
                "LOG_LEVEL": "WARNING",
            }
        )
        return env

    def start(self) -> None:
        import httpx

        manage = [sys.executable, str(ROOT / "manage.py")]
        env = self.env()
        self.processes.append(
            subprocess.Popen(  # noqa: S603
                [*manage, "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # runserver logs every request there
            )
        )
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{self.url}{SERVE_PATH}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the web server did not start")
            time.sleep(0.2)
        self.engine_log = Path(tempfile.mkstemp(prefix=f"bench-{self.name}-", suffix=".log")[1])
        env["LOG_LEVEL"] = "INFO"  # one JSON line per dispatch, parsed for the overhead figures
        with self.engine_log.open("w") as log:
            self.processes.append(
                subprocess.Popen([*manage, "run_engine"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)  # noqa: S603
            )
        from jobs.engine.models import Function

        while not Function.objects.filter(slug=FUNCTION, archived_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the dispatcher did not sync the app")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def dispatch_records(self, since_line: int = 0) -> list[dict]:
        records = []
        for line in self.engine_log.read_text().splitlines()[since_line:]:
            if line.startswith("{") and '"msg": "dispatch"' in line:
                records.append(json.loads(line))
        return records


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), to report CPU per step per process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clear_engine_tables() -> None:
    from jobs.engine.models import Event, EventIdempotency, KeyQueue, QueueItem, Run

    QueueItem.objects.all().delete()
    Run.objects.all().delete()
    Event.objects.all().delete()
    EventIdempotency.objects.all().delete()
    KeyQueue.objects.all().delete()


def send_events(url: str, events: list[dict]) -> None:
    import httpx

    for start in range(0, len(events), 5000):
        response = httpx.post(f"{url}/e/bench", json=events[start : start + 5000], timeout=120)
        response.raise_for_status()


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
    stack = Stack("engine", workers)
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
        overheads = [r["duration_ms"] - (r["function_ms"] or 0) for r in records if r.get("function_ms") is not None]
        step_times = [r["function_ms"] for r in records if r.get("function_ms") is not None]
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
    print(f"  the step itself (SDK)      {statistics.median(step_times):8.2f} ms p50")
    engine_cpu_ms, web_cpu_ms = engine_cpu * 1000 / (runs * 3), web_cpu * 1000 / (runs * 3)
    print(f"  CPU per step: dispatcher   {engine_cpu_ms:8.2f} ms, web {web_cpu_ms:.2f} ms")
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")
    print(f"  baseline: direct calls     {direct_steps_per_s:8.1f} steps/s (same threads, no engine)")
    print(f"  ratio engine/direct        {steps_per_s / direct_steps_per_s:8.2f}")


if __name__ == "__main__":
    main()
