"""The claim loop sleeps until the next timer is due (wakeup.py), not on a fixed tick: what it reads as due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.held_models import PendingDebounce
from jobs.engine.models import App, Event, Function, QueueItem, Run
from jobs.engine.wakeup import Timers

pytestmark = pytest.mark.django_db


@pytest.fixture
def function():
    app = App.objects.create(name="timers", url="http://timers")
    return Function.objects.create(app=app, slug="timers-fn", step_url="http://timers")


def _sleep_until(function, at):
    run = Run.objects.create(run_id=f"r{at.timestamp()}", function=function, created_at=timezone.now())
    QueueItem.objects.create(
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
    # The claim loop polls every ENGINE_POLL_INTERVAL (0.05 s) while idle; the sweeps (reaping, crons, debounces,
    # batches, timeouts, spent GCRA keys: several queries) run when the timers say one is due, or once a second as
    # a safety net, as they did on the old tick: not at every poll.
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
