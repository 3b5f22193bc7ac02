"""Fairness: tenant A sends 10,000 runs at once while tenant B sends one run a second.

Same processes as bench/engine.py (web server, one dispatcher, PostgreSQL). Every run is one no-op step of a
function with a per-tenant concurrency key whose limit is above the dispatcher's workers, so A alone could take
every worker. B's wait is the time from B's event being received to B's first request being claimed. Prints B's
p50/p95 wait while idle (measured first, in the same run) and under A's flood, and their ratio (aim: 2 or less),
plus how far A's flood had got, to show it really was in the way.
Run: `.venv/bin/python bench/fairness.py [flood_runs] [b_runs] [workers]` (defaults 10000, 15 and 8).
"""

from __future__ import annotations

import statistics
import sys
import time

from _setup import setup_django
from _stack import clear_engine_tables, percentile, send_events, test_app_stack

FUNCTION = "engine-tests-fair"


def b_waits(url: str, count: int, label: str) -> list[float]:
    """Send B's runs one a second; returns each one's wait (ms) from event received to first claim."""
    from jobs.engine.models import Run

    sent: list[str] = []
    for index in range(count):
        marker = f"{label}-{index}"
        send_events(url, [{"name": "test/fair", "data": {"tenantId": "tenant-b", "pause": 0, "marker": marker}}])
        sent.append(marker)
        time.sleep(1)
    deadline = time.monotonic() + 120
    while True:
        rows = list(
            Run.objects.filter(
                function__slug=FUNCTION, event__data__marker__in=sent, started_at__isnull=False
            ).values_list("started_at", "event__received_at")
        )
        if len(rows) == count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if len(rows) < count:
        raise SystemExit(f"only {len(rows)}/{count} of B's runs started within 120 s")
    return [(started - received).total_seconds() * 1000 for started, received in rows]


def main() -> None:
    flood = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    b_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    setup_django("fairness")
    clear_engine_tables()
    stack = test_app_stack("fairness", workers)
    stack.start()
    try:
        from jobs.engine.models import Run

        b_waits(stack.url, 2, "warm-up")  # first requests of fresh processes: not counted
        idle = b_waits(stack.url, b_runs, "idle")
        send_events(
            stack.url, [{"name": "test/fair", "data": {"tenantId": "tenant-a", "pause": 0}} for _ in range(flood)]
        )
        flooded = b_waits(stack.url, b_runs, "flood")
        a_done = Run.objects.filter(
            function__slug=FUNCTION, event__data__tenantId="tenant-a", status="completed"
        ).count()
    finally:
        stack.stop()
        clear_engine_tables()

    print(f"fairness bench: tenant A floods {flood} runs, tenant B sends 1 run/s ({b_runs} runs), {workers} workers")
    print(f"  B wait idle     p50 {statistics.median(idle):8.1f} ms   p95 {percentile(idle, 0.95):8.1f} ms")
    print(f"  B wait flooded  p50 {statistics.median(flooded):8.1f} ms   p95 {percentile(flooded, 0.95):8.1f} ms")
    print(
        f"  ratio flooded/idle  p50 {statistics.median(flooded) / statistics.median(idle):6.2f}"
        f"   p95 {percentile(flooded, 0.95) / percentile(idle, 0.95):6.2f}   (aim: 2 or less)"
    )
    print(f"  A's flood when B's last run went: {a_done} of {flood} done, {flood - a_done} still queued or running")


if __name__ == "__main__":
    main()
