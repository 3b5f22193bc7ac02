"""The fence's cost: bench/engine.py's no-op three-step runs with the fence on and off, in one run.

The fence (jobs/engine/fence.py) adds a header to each step request and one primary-key read to the serve
endpoint's handling of it. This starts the same stack as engine.py (gunicorn + one dispatcher + PostgreSQL) once
with `ENGINE_FENCE=false` (the dispatcher sends no fence, so nothing is checked: the baseline) and once with it on,
alternating `rounds` times (off, on, off, on, ...) so that a change in the machine's load falls on both.

Two figures per stack. Steps/s is what engine.py reports, but on a shared 2-core machine it moves by a quarter
between two runs of the same stack, far more than the 5% being looked for. The engine's throughput is bounded by CPU
(issue 24's profile: web, dispatcher and PostgreSQL together saturate the cores), so the cost that decides its
capacity is the CPU each step takes: user + system seconds of gunicorn (with its workers), the dispatcher and the
PostgreSQL server (postmaster, backends, and the ones reaped), divided by the steps done. Other processes' load
does not enter that figure. The ratio on/off of CPU per step is the fence's cost (aim: 1.05 or less), and off/on is
the throughput it leaves when CPU is what bounds it (aim: 0.95 or more).

Even CPU per step moves by about a tenth between stacks on a busy machine, so the check is also measured alone, the
way the serve endpoint makes it (`jobs.serve.engine_fence_refusal` on a request carrying a valid fence for a leased
item, on an open connection as under gunicorn's pool): this process's CPU plus the PostgreSQL server's, per check,
against the whole CPU per step of the fence-off stacks measured just before (the baseline of the same run).
Run: `.venv/bin/python bench/fence_cost.py [runs] [rounds] [workers]` (defaults 500, 3 and 8).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass

from _setup import setup_django
from _stack import clear_engine_tables, cpu_seconds, database_cpu_seconds, send_events, test_app_stack
from engine import FUNCTION, wait_for_completed


@dataclass
class Measured:
    steps_per_s: float
    cpu_ms_per_step: dict[str, float]  # web, dispatcher, PostgreSQL
    fenced: int  # requests the fence refused (0 expected: nothing is frozen)

    @property
    def total_cpu_ms(self) -> float:
        return sum(self.cpu_ms_per_step.values())


def _cpu_now(web_pid: int, dispatcher_pid: int) -> dict[str, float]:
    database = database_cpu_seconds()
    if database is None:
        raise SystemExit("fence cost: the PostgreSQL server's CPU cannot be read (DATABASE_URL on another machine?)")
    return {"web": cpu_seconds(web_pid), "dispatcher": cpu_seconds(dispatcher_pid), "PostgreSQL": database}


def measure(runs: int, workers: int, *, fence: bool) -> Measured:
    """One stack, `runs` runs of three no-op steps: steps/s, CPU per step of each process, and refusals."""
    clear_engine_tables()
    stack = test_app_stack("fence", workers)
    stack.extra_env["ENGINE_FENCE"] = "true" if fence else "false"
    stack.start()
    try:
        web, dispatcher = stack.processes
        log_start = len(stack.engine_log.read_text().splitlines())
        cpu_before = _cpu_now(web.pid, dispatcher.pid)
        started = time.perf_counter()
        send_events(stack.url, [{"name": "test/three.step", "data": {"pause": 0}} for _ in range(runs)])
        wait_for_completed(FUNCTION, runs)
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_now(web.pid, dispatcher.pid)
        fenced = sum(record["outcome"] == "fenced" for record in stack.dispatch_records(log_start))
    finally:
        stack.stop()
    steps = runs * 3
    cpu = {part: (cpu_after[part] - cpu_before[part]) * 1000 / steps for part in cpu_before}
    return Measured(steps / elapsed, cpu, fenced)


def check_cpu_ms(checks: int) -> float:
    """CPU (this process + PostgreSQL) of one fence check at the serve endpoint, averaged over `checks` checks."""
    from datetime import timedelta

    from django.db import connection
    from django.test import RequestFactory
    from django.utils import timezone

    from jobs.engine.models import App, Function, QueueItem, Run
    from jobs.serve import FENCE_HEADER, engine_fence_refusal

    now = timezone.now()
    app = App.objects.create(name="fence-cost", url="http://fence-cost/api/inngest")
    function = Function.objects.create(app=app, slug="fence-cost", step_url="http://fence-cost/api/inngest")
    run = Run.objects.create(run_id="fence-cost", function=function, created_at=now, status=Run.Status.RUNNING)
    item = QueueItem.objects.create(
        run=run, function=function, step_id="step", max_attempts=1, queue_key="f:fence-cost", available_at=now,
        order_at=now, lease_owner="token", lease_expires_at=now + timedelta(hours=1), generation=3,
    )  # fmt: skip
    request = RequestFactory().post(
        "/api/inngest?fnId=fence-cost&stepId=step", headers={FENCE_HEADER: f"{item.id}:3:token"}
    )
    try:
        connection.ensure_connection()
        if engine_fence_refusal(request) is not None:
            raise SystemExit("fence cost: the check refused a request whose fence holds")
        database_before, process_before = database_cpu_seconds(), time.process_time()
        for _ in range(checks):
            engine_fence_refusal(request)
        process_cpu = time.process_time() - process_before
        database_cpu = (database_cpu_seconds() or 0.0) - (database_before or 0.0)
    finally:
        app.delete()
    return (process_cpu + database_cpu) * 1000 / checks


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    setup_django("fence")
    results: dict[bool, list[Measured]] = {False: [], True: []}
    for _ in range(rounds):
        for fence in (False, True):
            results[fence].append(measure(runs, workers, fence=fence))
    off, on = results[False], results[True]
    check_ms = check_cpu_ms(5000)
    print(f"fence cost: {runs} runs x 3 no-op steps per stack, {rounds} rounds of off/on, web + engine + PostgreSQL")
    for label, measured in (("fence off (baseline)", off), ("fence on", on)):
        rates = ", ".join(f"{m.steps_per_s:.1f}" for m in measured)
        cpu = ", ".join(f"{m.total_cpu_ms:.2f}" for m in measured)
        print(f"  {label:22s} steps/s  {rates}")
        print(f"  {'':22s} CPU ms per step (web + dispatcher + PostgreSQL)  {cpu}")
        for part in measured[0].cpu_ms_per_step:
            median = statistics.median(m.cpu_ms_per_step[part] for m in measured)
            print(f"  {'':22s}   {part:10s} {median:6.2f} ms per step (median)")
    cpu_off = statistics.median(m.total_cpu_ms for m in off)
    cpu_on = statistics.median(m.total_cpu_ms for m in on)
    refused = sum(m.fenced for m in off + on)
    print(f"  requests refused by the fence {refused:5d}   (none expected: no dispatcher is frozen)")
    print(f"  machine load (1 min avg)      {os.getloadavg()[0]:5.2f}   on {os.cpu_count()} cores")
    rate_ratio = sum(m.steps_per_s for m in on) / sum(m.steps_per_s for m in off)
    print(f"  steps/s ratio on/off          {rate_ratio:5.3f}   (wall clock: moves with the machine's other load)")
    print(f"  CPU per step ratio on/off     {cpu_on / cpu_off:5.3f}   (the fence's cost; aim: 1.05 or less)")
    print(f"  CPU-bound throughput on/off   {cpu_off / cpu_on:5.3f}   (aim: 0.95 or more)")
    print(f"  one fence check alone         {check_ms:5.3f} ms CPU (serve endpoint + PostgreSQL, 5000 checks)")
    print(f"  check / CPU per step (off)    {check_ms / cpu_off:5.3f}   (its share of a step; aim: 0.05 or less)")


if __name__ == "__main__":
    main()
