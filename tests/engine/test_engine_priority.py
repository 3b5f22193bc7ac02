"""Run priority (`priority.run`) through the real engine: a higher factor starts ahead within its key queue."""

from __future__ import annotations

import pytest

from .gate_functions import GATES_PATH

pytestmark = [pytest.mark.urls("tests.engine.urls_gates"), pytest.mark.django_db(transaction=True)]


def _event(key: str, seq: int) -> dict:
    return {"name": "gates/prioritized", "data": {"key": key, "seq": seq, "source": "import"}}


def test_a_high_priority_run_starts_ahead_of_an_older_backlog_of_its_key_others_keep_their_turns(engine, recorder):
    # Synced, not started: the backlog is all queued before the first claim (limit 1 per key).
    dispatcher = engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"], start=False, max_in_flight=4)
    engine.send_many([_event("a", n) for n in range(5)])
    engine.send_many([_event("b", n) for n in range(3)])
    engine.send("gates/prioritized", {"key": "a", "seq": 99, "source": "api"})
    engine.send("gates/prioritized", {"key": "a", "seq": 5, "source": "import"})
    dispatcher.start()

    engine.wait_for_runs("-prioritized", 10)
    order = [(e["key"], e["seq"]) for e in recorder.executions]
    a_order = [seq for key, seq in order if key == "a"]
    b_order = [seq for key, seq in order if key == "b"]
    assert a_order == [99, 0, 1, 2, 3, 4, 5]  # the api run first; equal priorities stay FIFO
    assert b_order == [0, 1, 2]
    # Key b is not held behind key a's backlog: its first run is in the first round, beside a's first.
    assert order.index(("b", 0)) < order.index(("a", 2))


@pytest.mark.parametrize(
    ("expression", "data", "factor"),
    [
        ("event.data.source == 'api' ? 120 : 0", {"source": "api"}, 120),
        ("event.data.source == 'api' ? 120 : 0", {"source": "import"}, 0),
        ("event.data.p", {"p": 5000}, 600),  # clamped to the documented range
        ("event.data.p", {"p": -5000}, -600),
        ("event.data.p", {"p": "high"}, 0),  # not an int: no priority, as in Inngest
        ("event.data.p", {}, 0),  # cannot be evaluated: no priority
    ],
)
def test_the_priority_factor_is_an_int_clamped_to_600_seconds_either_way(expression, data, factor):
    from jobs.engine.gates import priority_factor

    assert priority_factor(expression, {"event": {"data": data}}) == factor


def _prioritized_function(expression: str):
    from jobs.engine.models import App, Function, Trigger

    app, _ = App.objects.get_or_create(name="prio", defaults={"url": "http://svc/api/inngest"})
    function = Function.objects.create(
        app=app,
        slug=f"prio-{Function.objects.count()}",
        step_url="http://svc/api/inngest",
        concurrency=[{"scope": "env", "key": "event.data.key", "limit": 10}],  # one key queue for both
        config={"priority": {"run": expression}},
    )
    Trigger.objects.create(function=function, event_name="prio/run")
    return function


def _start(function, data: dict):
    from django.utils import timezone

    from jobs.engine.models import Event
    from jobs.engine.services.intake import runs_start

    now = timezone.now()
    event = Event.objects.create(
        internal_id=f"E{Event.objects.count():025d}", name="prio/run", data=data, ts=0, received_at=now
    )
    (run,) = runs_start([(function, event)], now=now)
    return run


def test_a_negative_priority_orders_a_run_later_but_never_delays_it_in_an_idle_queue():
    from jobs.engine.services.claims import queue_claim

    # Inngest shifts the queue item's order (`qi.AtMS -= factor`, queue/enqueue.go) after computing when it is
    # due (`qi.Score`): a factor of -600 puts the run behind younger ones, it does not hold it for ten minutes.
    run = _start(_prioritized_function("-600"), {"key": "k"})

    claimed = queue_claim(owner="t", capacity=5, lease_seconds=30)

    assert [item.run_pk for item in claimed] == [run.pk]


def test_every_later_step_of_a_run_keeps_its_priority_not_only_its_first():
    from django.utils import timezone

    from jobs.engine.models import QueueItem
    from jobs.engine.services.answer_rows import item_to_discovery
    from jobs.engine.services.claims import queue_claim

    # Inngest gives every queue item of the run the run's factor (executor.go passes `PriorityFactor` from the
    # run's metadata to each enqueue). Two runs of one key have each finished a step; the older is plain, the
    # newer has factor 600: the newer's next step is claimed first.
    plain = _start(_prioritized_function("0"), {"key": "k"})
    urgent = _start(_prioritized_function("600"), {"key": "k"})
    for run in (plain, urgent):
        item_to_discovery(QueueItem.objects.get(run=run), available_at=timezone.now())

    (first,) = queue_claim(owner="t", capacity=1, lease_seconds=30)

    assert first.run_pk == urgent.pk
