"""Run tracing's cost to the ledger's writers: before it existed, with it off, and on (exporting), same run.

One round: 100 runs written as run tracking writes them (the run's row, three step attempts, completion),
timed in three ways, rounds interleaved and the best of 5 kept for each:
- before: the ledger's writes with the tracing hook taken out (its calls replaced by nothing): the baseline;
- off: `OTEL_EXPORTER_OTLP_ENDPOINT` unset, as production runs without a collector (aim: ratio to before ~1.00);
- on: exporting to an OTLP/HTTP receiver in another process (it answers 200 to every batch), the round ending
  with a flush so the export's own work is inside the figure.
Wall and CPU time (this process: the writers and the exporter's thread) per run, and their ratios to before.
Then the hook alone with tracing off: ns per call against an empty function's call.
Run: `.venv/bin/python bench/tracing.py` (under a minute; its own database).
"""

from __future__ import annotations

import subprocess
import sys
import time
import types

from _setup import setup_django

RUNS = 100
ROUNDS = 5
CALLS = 1_000_000
RECEIVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def main() -> None:
    setup_django("tracing")
    from django.conf import settings
    from django.utils import timezone
    from ulid import ULID

    from jobs import traces, tracking
    from jobs.models import JobRun
    from tenants.models import Tenant

    tenant = Tenant.objects.first() or Tenant.objects.create(name="Bench agency", slug="bench-agency")
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)  # noqa: S603
    port = int(receiver.stdout.readline())
    hookless = types.SimpleNamespace(step_attempt=lambda run, row: None, run_finished=lambda run, **kw: None)

    def round_of_runs() -> None:
        for _ in range(RUNS):
            run = tracking.run_ensure(
                run_id=str(ULID()),
                function_id="contact-category-assigned",
                event_name="contact/category.assigned",
                event_id="",
                event_data={"tenantId": str(tenant.id)},
            )
            for step in ("resolve-tenant-context", "build-prompt", "call-ai"):
                tracking.step_attempt_upsert(
                    run=run,
                    step_id=step,
                    step_name="step.run",
                    attempt=1,
                    status="completed",
                    started_at=timezone.now(),
                    duration_ms=3,
                )
            tracking.run_mark(run, status=JobRun.Status.COMPLETED, finished_at=timezone.now())

    def measure(mode: str) -> tuple[float, float]:
        tracking.traces = hookless if mode == "before" else traces
        settings.OTEL_EXPORTER_OTLP_ENDPOINT = f"http://127.0.0.1:{port}" if mode == "on" else ""
        traces.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        round_of_runs()
        traces.flush()
        return time.perf_counter() - wall, time.process_time() - cpu

    try:
        for mode in ("before", "off", "on"):
            measure(mode)  # warm-up: connections, imports, the exporter's session
        best: dict[str, list[float]] = {mode: [float("inf"), float("inf")] for mode in ("before", "off", "on")}
        for _ in range(ROUNDS):
            for mode in best:
                wall, cpu = measure(mode)
                best[mode] = [min(best[mode][0], wall), min(best[mode][1], cpu)]
    finally:
        tracking.traces = traces
        traces.reset()
        receiver.terminate()
        receiver.wait()

    print(f"{RUNS} runs per round (run row, 3 attempts, completion), best of {ROUNDS} interleaved rounds")
    print(f"{'mode':<34}{'wall ms/run':>12}{'CPU ms/run':>12}{'wall ratio':>12}{'CPU ratio':>11}")
    base_wall, base_cpu = best["before"]
    for mode, label in (("before", "before (no hook): baseline"), ("off", "tracing off"), ("on", "tracing on")):
        wall, cpu = best[mode]
        print(
            f"{label:<34}{wall / RUNS * 1000:>12.3f}{cpu / RUNS * 1000:>12.3f}"
            f"{wall / base_wall:>12.2f}{cpu / base_cpu:>11.2f}"
        )

    settings.OTEL_EXPORTER_OTLP_ENDPOINT = ""
    traces.reset()
    row = types.SimpleNamespace()
    traces.step_attempt(None, row)  # decides: off

    def empty(run: object, row: object) -> None:
        return None

    def per_call(function) -> float:
        start = time.perf_counter()
        for _ in range(CALLS):
            function(None, row)
        return (time.perf_counter() - start) / CALLS * 1e9

    empty_ns, hook_ns = min(per_call(empty) for _ in range(3)), min(per_call(traces.step_attempt) for _ in range(3))
    print(f"hook with tracing off: {hook_ns:.0f} ns per call; an empty function: {empty_ns:.0f} ns")


if __name__ == "__main__":
    main()
