"""What debounce and batching cost at event intake, against intake for a plain function, in the same run.

2,000 events for 100 keys, sent as 20 requests of 100 through the engine's intake service (the code behind
`POST /e/<key>`), to one of three functions: plain (each event starts a run: the baseline), debounced per key,
and batched per key (maxSize 10: each key fills two batches). Prints events/s (best of 3, interleaved), the
ratio to the baseline, and the runs and held rows each leaves: a debounced burst leaves 100 pending debounces
and no run where the plain function queued 2,000 runs. Usage: `.venv/bin/python bench/delayed.py [events] [keys]`.
"""

from __future__ import annotations

import sys

from _setup import setup_django, timed

setup_django("delayed")

from jobs.engine.models import App, Event, PendingBatch, PendingDebounce, Run  # noqa: E402
from jobs.engine.protocol import IncomingEvent  # noqa: E402
from jobs.engine.registry import app_register  # noqa: E402
from jobs.engine.services.intake import events_ingest  # noqa: E402

OPTIONS = {
    "plain": {},
    "debounced": {"debounce": {"period": "10s", "key": "event.data.contactId"}},
    "batched": {"batchEvents": {"maxSize": 10, "timeout": "10s", "key": "event.data.contactId"}},
}


def _register() -> None:
    functions = [
        {
            "id": f"bench-{name}",
            "name": name,
            "triggers": [{"event": f"bench/{name}"}],
            "steps": {"step": {"id": "step", "runtime": {"type": "http", "url": "http://127.0.0.1:9/api/inngest"}}},
            **options,
        }
        for name, options in OPTIONS.items()
    ]
    app_register(body={"appName": "bench-delayed", "url": "http://127.0.0.1:9/api/inngest", "functions": functions})


def _clear() -> None:
    Run.objects.all().delete()
    PendingDebounce.objects.all().delete()
    PendingBatch.objects.all().delete()
    Event.objects.all().delete()


def _send(name: str, events: int, keys: int) -> None:
    for start in range(0, events, 100):
        batch = [
            IncomingEvent(
                name=f"bench/{name}", data={"contactId": f"c-{n % keys}"}, ts=1_800_000_000_000 + n, external_id=""
            )
            for n in range(start, min(start + 100, events))
        ]
        events_ingest(events=batch)


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    keys = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    App.objects.filter(name="bench-delayed").delete()
    _register()
    best: dict[str, float] = {}
    left: dict[str, tuple[int, int]] = {}
    for _ in range(3):
        for name in OPTIONS:
            _clear()
            seconds = timed(lambda name=name: _send(name, events, keys))
            best[name] = min(best.get(name, seconds), seconds)
            left[name] = (Run.objects.count(), PendingDebounce.objects.count() + PendingBatch.objects.count())
    _clear()
    base = events / best["plain"]
    print(f"{events} events for {keys} keys, requests of 100, best of 3")
    print(f"{'function':<10} {'events/s':>9} {'vs plain':>9} {'runs':>6} {'held rows':>10}")
    for name in OPTIONS:
        rate = events / best[name]
        runs, held = left[name]
        print(f"{name:<10} {rate:>9.0f} {rate / base:>8.2f}x {runs:>6} {held:>10}")


if __name__ == "__main__":
    main()
