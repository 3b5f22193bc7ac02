"""The claim loop sleeps until the next timer is due (wakeup.py), not on a fixed tick: what it reads as due."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs.engine.dispatcher import Dispatcher
from jobs.engine.held_models import PendingDebounce
from jobs.engine.models import App, Event, Function, QueueItem, Run
from jobs.engine.protocol import parse_duration
from jobs.engine.queries import statement
from jobs.engine.services.claims import queue_claim
from jobs.engine.wakeup import Timers

pytestmark = pytest.mark.django_db


@pytest.fixture
def function():
    app = App.objects.create(name="timers", url="http://timers")
    return Function.objects.create(app=app, slug="timers-fn", step_url="http://timers")


def _sleep_until(function, at):
    run = Run.objects.create(run_id=f"r{at.timestamp()}", function=function, created_at=timezone.now())
    return QueueItem.objects.create(
        run=run,
        function=function,
        step_id="wake",
        max_attempts=1,
        queue_key="f:timers-fn",
        available_at=at,
        order_at=at,
    )


def test_with_nothing_due_the_loop_sleeps_its_idle_limit():
    timers = Timers(idle_limit=30)
    timers.sweep_if_due()
    timers.refresh(busy=False)

    assert 29 < timers.wait_seconds() <= 30


def test_the_loop_sleeps_until_the_next_sleep_is_due_not_a_tick(function):
    _sleep_until(function, timezone.now() + timedelta(seconds=20))
    _sleep_until(function, timezone.now() + timedelta(seconds=8))
    timers = Timers(idle_limit=60)
    timers.sweep_if_due()
    timers.refresh(busy=False)

    assert 7 < timers.wait_seconds() <= 8


def test_the_loop_wakes_for_a_debounce_due_before_any_queue_item(function):
    _sleep_until(function, timezone.now() + timedelta(seconds=20))
    now = timezone.now()
    event = Event.objects.create(internal_id="01J0000000000000000000000D", name="a/b", ts=0, received_at=now)
    PendingDebounce.objects.create(
        function=function, key="k", event=event, event_ts=0, fire_at=now + timedelta(seconds=5), created_at=now
    )
    timers = Timers(idle_limit=60)
    timers.refresh(busy=False)

    assert 4 < timers.wait_seconds() <= 5


def test_an_idle_loop_sweeps_once_a_second_not_every_poll(monkeypatch):
    # A claim loop polling every 0.05 s (ENGINE_POLL_INTERVAL's old default; it is 1 s now): the sweeps (reaping,
    # crons, debounces, batches, timeouts, spent GCRA keys: several queries) run when the timers say one is due, or
    # once a second as a safety net, as they did on the old tick: not at every poll.
    clock = [1000.0]
    monkeypatch.setattr("jobs.engine.wakeup.time.monotonic", lambda: clock[0])
    timers = Timers(idle_limit=0.05)
    assert timers.sweep_if_due()
    timers.refresh(busy=False)
    clock[0] += 0.5
    assert not timers.sweep_if_due()
    assert timers.wait_seconds() <= 0.05  # the loop itself still claims at every poll
    clock[0] += 0.51
    assert timers.sweep_if_due()


def _run(function, run_id, *, status="queued", created_at=None, started_at=None):
    return Run.objects.create(
        run_id=run_id, function=function, status=status, created_at=created_at or timezone.now(), started_at=started_at
    )


def test_the_loop_wakes_for_the_next_start_or_finish_timeout_of_an_unfinished_run(function, settings):
    # One statement reads the run timeouts too (timers_next_due), from the function's current config, scaled.
    settings.ENGINE_DELAY_SCALE = 0.5
    function.config = {"timeouts": {"start": "1m", "finish": "1h30m"}}
    function.save()
    now = timezone.now()
    _run(function, "unstarted", created_at=now - timedelta(seconds=20))  # due at +10 s (30 s scaled, 20 s gone)
    _run(
        function,
        "running",
        status="running",
        created_at=now,
        started_at=now - timedelta(minutes=45) + timedelta(seconds=7),
    )
    _run(function, "done", status="completed", created_at=now - timedelta(hours=9), started_at=now - timedelta(hours=9))
    timers = Timers(idle_limit=60)
    timers.refresh(busy=False)
    assert 6 < timers.wait_seconds() <= 7  # the finish timeout: 45 min scaled, started 45 min - 7 s ago

    Run.objects.filter(run_id="running").update(status="completed")
    timers.refresh(busy=False)
    assert 9 < timers.wait_seconds() <= 10  # now the start timeout; the finished runs count for nothing


@pytest.mark.parametrize("text", ["10s", "1h30m", "2d", "500ms", "1.5m", "1w2d3h4m5s6ms", "0s"])
def test_the_sql_reads_a_duration_as_the_engine_does(function, text):
    function.config = {"timeouts": {"start": text}}
    function.save()
    created = timezone.now() - timedelta(days=30)
    _run(function, "old", created_at=created)
    with connection.cursor() as cursor:
        now = timezone.now()
        cursor.execute(statement("timers_next_due"), {"now": now, "since": now, "scale": 1.0})
        _, due = cursor.fetchone()
    assert due == created + parse_duration(text)


def test_an_item_the_claim_left_while_due_is_not_a_timer(function):
    # Due before the claim looked and still unleased: the claim left it for a reason (a full concurrency key, a
    # throttle), and what frees it wakes the loop. Read as a timer, it would make the loop claim without a pause.
    claim_looked = timezone.now()
    _sleep_until(function, claim_looked - timedelta(seconds=1))
    timers = Timers(idle_limit=60)
    timers.refresh(busy=False, since=claim_looked)

    assert 59 < timers.wait_seconds() <= 60


@pytest.mark.django_db(transaction=True)  # the loop runs on a thread of its own, with a connection of its own
def test_an_item_that_falls_due_while_a_claim_looks_is_claimed_next_not_after_the_idle_limit(function):
    # A 5 ms sleep's item, not yet due when a claim reads its clock, is due by the time the loop reads its timers on
    # a loaded machine. Before, the timers counted only items due after *that* read: this one was neither claimable
    # nor coming, and the loop slept its idle limit (CI caught a sleeper hanging under ENGINE_POLL_INTERVAL=3600).
    # Nothing here is timed: the item's due time is set after the claim has looked, and the loop's wait is an hour.
    item = _sleep_until(function, timezone.now() + timedelta(hours=1))
    dispatcher = Dispatcher(app_urls=["http://timers"], poll_interval=3600, lease_seconds=30)
    claims: list[int] = []

    def claim_once() -> int:  # the real claim, with the item falling due between its look and the loop's timers
        got = queue_claim(owner=f"due/{len(claims)}", capacity=1, lease_seconds=30)
        claims.append(len(got))
        if len(claims) == 1:
            looked = timezone.now()  # after the claim read its clock: the item was not due when it looked
            QueueItem.objects.filter(pk=item.pk).update(available_at=looked, order_at=looked)
            while timezone.now() <= looked:  # due before the loop reads its timers
                pass
        else:
            dispatcher._stop.set()
        return len(got)

    dispatcher.claim_once = claim_once
    # The loop's thread closes its own connection when it ends, as the dispatcher's threads do.
    loop = threading.Thread(target=Dispatcher._with_connection_cleanup(dispatcher.run_claim_loop), daemon=True)
    loop.start()
    loop.join(60)  # only ends a hung test: the loop's own wait is an hour
    dispatcher._stop.set()
    dispatcher._wake.set()
    loop.join(10)

    assert claims == [0, 1], "the item that fell due during the claim waited for the idle limit"
