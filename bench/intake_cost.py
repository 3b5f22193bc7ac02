"""What the engine's event intake costs per event, in CPU: the web server's share of each event sent, and the
dispatcher's at each run's end (its `inngest/function.finished` event goes through the same intake).

Calls the intake services in this process, on one connection, with DEBUG off as the stack runs them (no query
log): `events_ingest` with one event that starts one run, and `system_events_store` with one run-end event that
starts none. CPU is this process's (user + system) and the PostgreSQL backend's (from /proc), per call. Baseline,
in the same run: a transaction that does nothing (BEGIN, SELECT 1, COMMIT) on the same connection, the floor any
intake pays. The three are interleaved `rounds` times, so that a change in the machine's load falls on all;
medians are printed. Run: `.venv/bin/python bench/intake_cost.py [calls] [rounds]` (defaults 1,000 and 3).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from _setup import setup_django

TENANT = "7d1f4c1e-8d55-4a47-9a40-8f2f3a7c1b11"


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    setup_django("intake_cost")
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from jobs.engine.models import App, Event, Function, QueueItem, Run, Trigger
    from jobs.engine.protocol import IncomingEvent
    from jobs.engine.services.intake import events_ingest, system_events_store

    settings.DEBUG = False  # as the stack runs: no query log
    QueueItem.objects.all().delete()
    Run.objects.all().delete()
    Event.objects.all().delete()
    app, _ = App.objects.get_or_create(name="intake", defaults={"url": "http://intake/api/inngest"})
    function, _ = Function.objects.get_or_create(
        app=app, slug="intake-fn", defaults={"step_url": "http://intake/api/inngest?fnId=intake-fn"}
    )
    Trigger.objects.get_or_create(function=function, event_name="intake/go")
    connection.ensure_connection()
    if os.environ.get("DATABASE_URL"):
        raise SystemExit("needs the embedded server: the backend's CPU is read from /proc")
    pid = connection.connection.info.backend_pid
    data = {"tenantId": TENANT, "contactId": "c1", "category": "buyer"}

    def nothing() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def event_sent() -> None:
        events_ingest(events=[IncomingEvent("intake/go", data, 1_764_000_000_000, "")])

    def run_ended() -> None:
        finished = IncomingEvent("inngest/function.finished", {"function_id": "intake-fn", "run_id": "r"}, 1, "")
        system_events_store([finished], now=timezone.now())

    kinds = {"empty transaction (baseline)": nothing, "event sent, one run": event_sent, "run's end event": run_ended}
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
    for _ in range(rounds):
        for name, call in kinds.items():
            client, backend = time.process_time(), backend_cpu(pid)
            for _ in range(calls):
                call()
            measured[name].append(
                ((time.process_time() - client) * 1e6 / calls, (backend_cpu(pid) - backend) * 1e6 / calls)
            )

    print(f"event intake CPU per call: {calls} calls x {rounds} rounds, interleaved (medians)")
    base = sum(statistics.median(m[i] for m in measured["empty transaction (baseline)"]) for i in (0, 1))
    for name, values in measured.items():
        client = statistics.median(m[0] for m in values)
        backend = statistics.median(m[1] for m in values)
        print(
            f"  {name:<30} client {client:7.0f} us, PostgreSQL {backend:6.0f} us"
            f"   ({(client + backend) / base:5.2f} x the baseline)"
        )
    print(f"  machine load (1 min avg)   {os.getloadavg()[0]:8.2f}   on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
