"""The fence under faults: runs x 5 steps while a dispatcher is frozen and thawed and the web server restarts.

Starts the web server (gunicorn, as `make run` does) and two dispatchers (`manage.py run_engine`) on the bench's
own database, with a short lease. While `runs` runs of a five-step function go through, the second dispatcher is
frozen (SIGSTOP) past its lease and thawed, again and again (so its requests in flight and in the web server's queue
go stale and its items are claimed again by the first), and the web server is restarted twice. Every step body
writes a journal line as it starts, saying whether its own memo was already stored (tests/engine/fence_functions.py
`soak-five`). Prints runs, lost runs, completed-step re-executions (must be 0: the fence), in-flight re-executions
(a step whose request was lost mid-way runs again: at-least-once, reported) and steps/s; then the same soak with
the fence off (`ENGINE_FENCE=false`) in the same run, and the ratio on/off of the throughput.
Run: `.venv/bin/python bench/fence_soak.py [runs] [freeze_seconds]` (defaults 300 and 3).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from _setup import setup_django
from _stack import ROOT, clear_engine_tables, send_events, test_app_stack

FUNCTION = "engine-tests-soak-five"
LEASE_SECONDS = 2.0
STEP_PAUSE = 0.2  # each step body sleeps this long, so requests are in flight when the dispatcher freezes


def _completed(function: str) -> int:
    from jobs.engine.models import Run

    return Run.objects.filter(function__slug=function, status="completed").count()


def _restart_web(stack) -> None:
    """Stop the web server (gunicorn finishes its requests in flight) and start a new one on the same port."""
    import httpx

    from nurturehub.web import web_server_command

    web = stack.processes[0]
    web.terminate()
    web.wait(60)
    stack.processes[0] = subprocess.Popen(  # noqa: S603
        web_server_command(f"127.0.0.1:{stack.port}"),
        env=stack.env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{stack.url}{stack.app_path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the web server did not restart")


def soak(runs: int, freeze_seconds: float, *, fence: bool) -> dict[str, float]:
    """One soak on a fresh stack; returns its figures."""
    from jobs.engine.models import Run

    clear_engine_tables()
    journal = Path(tempfile.mkstemp(prefix="fence-soak-", suffix=".jsonl")[1])
    stack = test_app_stack("fence_soak", 4)
    stack.extra_env.update(
        {
            "ENGINE_FENCE": "true" if fence else "false",
            "ENGINE_LEASE_SECONDS": str(LEASE_SECONDS),
            "FENCE_JOURNAL": str(journal),
        }
    )
    stack.start()
    frozen = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "run_engine"],
        env=stack.env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    freezes = restarts = 0
    stop = threading.Event()

    def freeze_and_thaw() -> None:
        nonlocal freezes
        while not stop.wait(freeze_seconds / 2):  # running a while: it claims and sends
            frozen.send_signal(signal.SIGSTOP)  # past its lease: its items are claimed again by the other
            stop.wait(LEASE_SECONDS + freeze_seconds)
            frozen.send_signal(signal.SIGCONT)
            freezes += 1

    freezer = threading.Thread(target=freeze_and_thaw, daemon=True)
    try:
        started = time.perf_counter()
        send_events(stack.url, [{"name": "test/soak.five", "data": {"pause": STEP_PAUSE}} for _ in range(runs)])
        freezer.start()
        last_progress, progress = time.monotonic(), -1
        while True:
            done = _completed(FUNCTION)
            if done >= runs:
                break
            if done != progress:
                last_progress, progress = time.monotonic(), done
            elif time.monotonic() - last_progress > 120:
                break  # no run finished for two minutes: what is left is counted as lost
            if restarts < 2 and done >= runs * (restarts + 1) / 3:
                _restart_web(stack)
                restarts += 1
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        if freezer.is_alive():
            freezer.join()
        frozen.send_signal(signal.SIGCONT)
        frozen.terminate()
        try:
            frozen.wait(30)
        except subprocess.TimeoutExpired:
            frozen.kill()
        stack.stop()
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line]
    journal.unlink()
    starts_without_memo = Counter((e["run_id"], e["step"]) for e in lines if not e["memo_existed"])
    completed = _completed(FUNCTION)
    return {
        "runs": runs,
        "completed": completed,
        "lost": runs - completed,
        "failed": Run.objects.filter(function__slug=FUNCTION, status="failed").count(),
        "bodies": len(lines),
        "completed_step_reexecutions": sum(e["memo_existed"] for e in lines),
        "in_flight_reexecutions": sum(count - 1 for count in starts_without_memo.values()),
        "steps_per_s": completed * 5 / elapsed,
        "freezes": freezes,
        "restarts": restarts,
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    freeze_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    setup_django("fence_soak")
    results = {fence: soak(runs, freeze_seconds, fence=fence) for fence in (False, True)}
    print(
        f"fence soak: {runs} runs x 5 steps ({STEP_PAUSE * 1000:.0f} ms each), two dispatchers"
        f" (lease {LEASE_SECONDS:g} s), one frozen for {LEASE_SECONDS + freeze_seconds:g} s every"
        f" {LEASE_SECONDS + 1.5 * freeze_seconds:g} s, the web server restarted twice (gunicorn as make run starts it)"
    )
    rows = [
        ("runs completed", "completed", "d"),
        ("lost (not completed)", "lost", "d"),
        ("failed", "failed", "d"),
        ("step bodies started (journal)", "bodies", "d"),
        ("completed-step re-executions", "completed_step_reexecutions", "d"),
        ("in-flight re-executions", "in_flight_reexecutions", "d"),
        ("freezes / web restarts", None, ""),
        ("steps/s", "steps_per_s", ".1f"),
    ]
    print(f"  {'':32s} {'fence on':>10s} {'fence off':>10s}")
    for label, key, spec in rows:
        if key is None:
            on, off = results[True], results[False]
            print(f"  {label:32s} {on['freezes']:>6d} / {on['restarts']} {off['freezes']:>6d} / {off['restarts']}")
            continue
        print(f"  {label:32s} {results[True][key]:>10{spec}} {results[False][key]:>10{spec}}")
    ratio = results[True]["steps_per_s"] / results[False]["steps_per_s"]
    print(f"  machine load (1 min avg)         {os.getloadavg()[0]:10.2f}   on {os.cpu_count()} cores")
    print(f"  throughput ratio on/off          {ratio:10.3f}   (the fence off is the baseline)")


if __name__ == "__main__":
    main()
