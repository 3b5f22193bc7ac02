"""What matching events against waiting runs (wait_for_event, invoke) and cancel-on costs event intake.

Same-run baseline, best of 3, interleaved: storing 2,000 events (batches of 100, `intake.events_ingest`, no
function triggered) with the matching hook replaced by a no-op. Then the same with matching on, while 10,000 runs
wait on other events and 1,000 runs of a function cancel on another event (ratio near 1: pauses are found by an
index on the event name, runs by their function, never by scanning); then 2,000 events of the very name those
10,000 runs wait on, and 2,000 of the name the 1,000 cancel on, none matching their `if` (`event.data.id ==
async.data.id`: a pause stores the digest of its run's value, which the events' own digests find through the
index; cancel-on reads only the runs whose value one of the events carries).
Run: `.venv/bin/python bench/pauses.py`.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from _setup import best_of, setup_django

WAITING, CANCELLABLE, EVENTS, BATCH = 10_000, 1_000, 2_000, 100


def main() -> None:
    setup_django("pauses")
    from django.utils import timezone
    from ulid import ULID

    from jobs.engine.if_index import match_key
    from jobs.engine.models import App, Event, Function, Pause, Run
    from jobs.engine.protocol import IncomingEvent
    from jobs.engine.services import intake

    Run.objects.all().delete()
    Event.objects.all().delete()
    App.objects.filter(name="bench-pauses").delete()
    now = timezone.now()
    app = App.objects.create(name="bench-pauses", url="http://127.0.0.1:9/api/inngest")
    waiter = Function.objects.create(app=app, slug="bench-pauses-waiter", step_url="http://127.0.0.1:9/")
    cancellable = Function.objects.create(
        app=app,
        slug="bench-pauses-cancellable",
        step_url="http://127.0.0.1:9/",
        config={"cancel": [{"event": "bench/stop", "if": "event.data.id == async.data.id"}]},
    )
    trigger = {"name": "bench/start", "data": {"id": -1}, "id": "x", "ts": 0}  # no event sent carries id -1
    runs = Run.objects.bulk_create(
        [
            Run(run_id=str(ULID()), function=function, events=[trigger], status="running", created_at=now)
            for function, count in ((waiter, WAITING), (cancellable, CANCELLABLE))
            for _ in range(count)
        ],
        batch_size=2_000,
    )
    Pause.objects.bulk_create(
        [
            Pause(
                run=run,
                kind="wait",
                step_id=f"{index:040d}",
                event_name="bench/awaited",
                expression="event.data.id == async.data.id",
                match_key=match_key("event.data.id == async.data.id", trigger),
                expires_at=now + timedelta(hours=1),
                created_at=now,
            )
            for index, run in enumerate(runs[:WAITING])
        ],
        batch_size=2_000,
    )

    def ingest(name: str) -> None:
        for start in range(0, EVENTS, BATCH):
            events = [IncomingEvent(name=name, data={"id": start + n + 1}, ts=0, external_id="") for n in range(BATCH)]
            intake.events_ingest(events=events)

    def without_matching() -> None:
        with mock.patch.object(intake, "_events_match_waiting_runs"):
            ingest("bench/other")

    base = best_of(3, without_matching)
    other = best_of(3, lambda: ingest("bench/other"))
    same = best_of(3, lambda: ingest("bench/awaited"))
    stop = best_of(3, lambda: ingest("bench/stop"))
    assert Pause.objects.count() == WAITING and not Run.objects.filter(status="cancelled").exists()
    print(f"store {EVENTS:,} events in batches of {BATCH}, {WAITING:,} runs waiting, {CANCELLABLE:,} cancellable:")
    print(f"  without matching (baseline)      {EVENTS / base:8,.0f} events/s")
    print(f"  matching, events of other names  {EVENTS / other:8,.0f} events/s  ratio {other / base:.2f}")
    print(f"  matching, the awaited name       {EVENTS / same:8,.0f} events/s  ratio {same / base:.2f}")
    print(f"  matching, the cancel event       {EVENTS / stop:8,.0f} events/s  ratio {stop / base:.2f}")
    App.objects.filter(name="bench-pauses").delete()


if __name__ == "__main__":
    main()
