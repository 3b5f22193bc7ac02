"""Timer lateness through the real stack: how long after its due time each kind of timer fires.

Starts the web server (gunicorn, as `make run` does) and one dispatcher (`manage.py run_engine`) as processes of
their own (bench/_stack.py), serving the timer functions (tests/engine/timer_functions.py), ENGINE_DELAY_SCALE 1.
For each kind, `samples` timers due at staggered times (`SPACING` apart, so they fire one by one):
- sleep: `step.sleep_until` a given time; fired = the wall clock of the step after it (the run's output);
- debounce / batch: one event per key, a 1 s period / batch timeout; due = the event's received_at + 1 s;
- finish timeout: a run sleeping an hour with a 1 s finish timeout; due = started_at + 1 s, fired = ended_at;
- start timeout: a run queued behind its key's one slot, held 2 s; due = created_at + 1 s, fired = ended_at.
Lateness = fired - due (ms): p50 / p95 / max per kind. Baseline, in the same run: an immediate step's latency
(event received -> its first step running: the same claim, request and SDK path, with no timer), and the ratio of
each kind's p50 to it. Aim: every kind within 100 ms of due on a quiet machine.
Run: `.venv/bin/python bench/timers.py [samples]` (default 20).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from _setup import setup_django
from _stack import Stack, clear_engine_tables, percentile, send_events

SPACING = 0.25  # seconds between two timers' due times
PERIOD = 1.0  # timer_functions.PERIOD
APP = "timers-bench"


def _wait_for_runs(event_ids: list[str], *, statuses: tuple[str, ...], timeout: float = 120) -> list:
    from jobs.engine.models import Run

    deadline = time.monotonic() + timeout
    while True:
        runs = list(Run.objects.filter(event__internal_id__in=event_ids, status__in=statuses).select_related("event"))
        if len(runs) >= len(event_ids):
            return runs
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(runs)}/{len(event_ids)} runs ended within {timeout}s")
        time.sleep(0.1)


def _send_staggered(url: str, name: str, samples: int, data: Callable[[int], dict]) -> list[str]:
    """One event per sample, SPACING apart; returns the events' ids."""
    import httpx

    ids = []
    for sample in range(samples):
        started = time.monotonic()
        response = httpx.post(f"{url}/e/bench", json=[{"name": name, "data": data(sample)}], timeout=30)
        response.raise_for_status()
        ids += response.json()["ids"]
        time.sleep(max(SPACING - (time.monotonic() - started), 0))
    return ids


def _output_late(runs: list, due: Callable) -> list[float]:
    return [(float(run.output) - due(run)) * 1000 for run in runs]


def immediate(url: str, samples: int) -> list[float]:
    ids = _send_staggered(url, "timers/immediate", samples, lambda n: {})
    return _output_late(_wait_for_runs(ids, statuses=("completed",)), lambda run: run.event.received_at.timestamp())


def sleeps(url: str, samples: int) -> list[float]:
    first = time.time() + PERIOD
    events = [{"name": "timers/sleep", "data": {"until": first + n * SPACING}} for n in range(samples)]
    send_events(url, events)
    from jobs.engine.models import Run

    _wait_for_count(lambda: Run.objects.filter(function__slug=f"{APP}-sleep", status="completed").count(), samples)
    runs = list(Run.objects.filter(function__slug=f"{APP}-sleep", status="completed"))
    return _output_late(runs, lambda run: float(run.events[0]["data"]["until"]))


def _wait_for_count(count: Callable[[], int], expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while count() < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {count()}/{expected} within {timeout}s")
        time.sleep(0.1)


def held(kind: str):
    def measure(url: str, samples: int) -> list[float]:
        ids = _send_staggered(url, f"timers/{kind}", samples, lambda n: {"key": f"k{n}"})
        due = lambda run: run.event.received_at.timestamp() + PERIOD  # noqa: E731
        return _output_late(_wait_for_runs(ids, statuses=("completed",)), due)

    return measure


def finish_timeouts(url: str, samples: int) -> list[float]:
    ids = _send_staggered(url, "timers/finish.timeout", samples, lambda n: {})
    runs = _wait_for_runs(ids, statuses=("cancelled",))
    return [(run.ended_at - run.started_at).total_seconds() * 1000 - PERIOD * 1000 for run in runs]


def start_timeouts(url: str, samples: int) -> list[float]:
    import httpx

    waiting = []
    for sample in range(samples):
        started = time.monotonic()
        events = [
            {"name": "timers/start.timeout", "data": {"key": f"k{sample}", "hold": 2}},
            {"name": "timers/start.timeout", "data": {"key": f"k{sample}"}},
        ]
        response = httpx.post(f"{url}/e/bench", json=events, timeout=30)
        response.raise_for_status()
        waiting.append(response.json()["ids"][1])
        time.sleep(max(SPACING - (time.monotonic() - started), 0))
    runs = _wait_for_runs(waiting, statuses=("cancelled",))
    return [(run.ended_at - run.created_at).total_seconds() * 1000 - PERIOD * 1000 for run in runs]


KINDS = {
    "sleep": sleeps,
    "debounce": held("debounce"),
    "batch timeout": held("batch"),
    "finish timeout": finish_timeouts,
    "start timeout": start_timeouts,
}


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    setup_django("timers")
    clear_engine_tables()
    stack = Stack(
        "timers",
        workers=4,
        synced_function=f"{APP}-immediate",
        settings_module="tests.engine.timer_bench_settings",
        app_path="/api/inngest-timers",
    )
    stack.start()
    try:
        immediate(stack.url, 5)  # warm-up: connections, the SDK's first requests
        clear_engine_tables()
        results = {"immediate step (baseline)": immediate(stack.url, samples)}
        for name, measure in KINDS.items():
            results[name] = measure(stack.url, samples)
    finally:
        stack.stop()
    base = percentile(results["immediate step (baseline)"], 0.5)
    print(f"timer lateness (fired - due), {samples} per kind, due {SPACING:.2f} s apart; ms")
    print(f"{'kind':<26} {'p50':>8} {'p95':>8} {'max':>8} {'p50 / baseline p50':>20}")
    for name, late in results.items():
        p50, p95 = percentile(late, 0.5), percentile(late, 0.95)
        print(f"{name:<26} {p50:>8.1f} {p95:>8.1f} {max(late):>8.1f} {p50 / base:>19.2f}x")


if __name__ == "__main__":
    main()
