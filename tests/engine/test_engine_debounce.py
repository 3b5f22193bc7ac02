"""Debounce through the real engine: a burst for one key starts one run, with the last event, after the period."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from jobs.engine.debounce import debounces_take_due
from jobs.engine.models import PendingDebounce, Run, Trigger
from jobs.engine.services.cron import cron_fire_due
from jobs.engine.services.intake import runs_start

from .delayed_functions import DELAYED_SERVE_PATH

pytestmark = [pytest.mark.urls("tests.engine.delayed_urls"), pytest.mark.django_db(transaction=True)]


def _dispatcher(engine, *, start: bool):
    return engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"], start=start)


def test_a_burst_per_key_debounces_into_one_run_each_with_the_last_event(engine, recorder):
    # Synced but not started: nothing can fire while the burst arrives, however slow the machine.
    dispatcher = _dispatcher(engine, start=False)
    for seq in range(1, 6):
        engine.send("test/debounced", {"contactId": "c-1", "seq": seq})
        engine.send("test/debounced", {"contactId": "c-2", "seq": 10 + seq})
    assert PendingDebounce.objects.count() == 2
    assert not Run.objects.exists()

    dispatcher.start()
    runs = engine.wait_for_runs("-debounced", 2)

    assert [run.status for run in runs] == [Run.Status.COMPLETED] * 2
    assert sorted(run.output["seq"] for run in runs) == [5, 15]  # each key's last event, one run per key
    assert sorted(e["seqs"] for e in recorder.executions) == [[5], [15]]
    assert not PendingDebounce.objects.exists()


def test_each_event_pushes_the_deadline_and_an_older_event_changes_nothing(engine):
    _dispatcher(engine, start=False)
    engine.send("test/debounced", {"contactId": "c-1", "seq": 1}, ts=1_800_000_000_000)
    first = PendingDebounce.objects.get()
    engine.send("test/debounced", {"contactId": "c-1", "seq": 2}, ts=1_800_000_000_500)
    second = PendingDebounce.objects.get()
    engine.send("test/debounced", {"contactId": "c-1", "seq": 0}, ts=1_700_000_000_000)  # out of order
    third = PendingDebounce.objects.get()

    assert second.fire_at > first.fire_at
    assert second.event.data["seq"] == 2
    assert (third.event_id, third.fire_at) == (second.event_id, second.fire_at)


def test_the_timeout_caps_the_delay_from_the_first_event(engine, recorder, engine_settings):
    dispatcher = _dispatcher(engine, start=False)
    engine.send("test/debounced.capped", {"contactId": "c-1", "seq": 1})
    engine.send("test/debounced.capped", {"contactId": "c-1", "seq": 2})

    pending = PendingDebounce.objects.get()
    scale = engine_settings.ENGINE_DELAY_SCALE
    # A day's period (86 s at this scale) would push the run past the wait below; the 5 s timeout caps it.
    assert pending.fire_at == pending.timeout_at
    assert (pending.timeout_at - pending.created_at).total_seconds() == pytest.approx(5 * scale)

    dispatcher.start()
    (run,) = engine.wait_for_runs("-debounced-capped", 1)
    assert run.output == {"seq": 2}
    assert [e["seqs"] for e in recorder.executions] == [[2]]


def test_an_event_after_the_run_started_opens_a_new_debounce(engine, recorder, wait_until):
    _dispatcher(engine, start=True)
    engine.send("test/debounced", {"contactId": "c-1", "seq": 1})
    engine.wait_for_runs("-debounced", 1)
    engine.send("test/debounced", {"contactId": "c-1", "seq": 2})

    runs = engine.wait_for_runs("-debounced", 2)
    assert [run.output["seq"] for run in runs] == [1, 2]


def test_an_event_arriving_while_the_debounced_run_starts_opens_a_new_debounce(engine, wait_until):
    # start.lua: once a debounce starts its run, a new event for the key opens a new debounce; it never joins
    # the run that is starting, and is never lost. The starting transaction holds the row while the event arrives.
    _dispatcher(engine, start=False)
    engine.send("test/debounced", {"contactId": "c-1", "seq": 1})
    arrived = threading.Event()

    def send_second() -> None:
        engine.send("test/debounced", {"contactId": "c-1", "seq": 2})
        arrived.set()

    with transaction.atomic():
        (due,) = debounces_take_due(now=timezone.now() + timedelta(days=1))
        runs_start([due], now=timezone.now())
        sender = threading.Thread(target=send_second)
        sender.start()
        wait_until(_an_intake_waits_on_a_row_lock, message="the second event's intake to wait on the debounce row")
        assert not arrived.is_set()
    sender.join(30)

    assert arrived.is_set()
    (run,) = Run.objects.filter(function__slug__endswith="-debounced")
    assert run.event.data["seq"] == 1
    pending = PendingDebounce.objects.get()
    assert pending.event.data["seq"] == 2


def _an_intake_waits_on_a_row_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the view is a snapshot per transaction otherwise
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            ["%engine_pendingdebounce%"],
        )
        return cursor.fetchone()[0] > 0


def test_a_cron_run_of_a_debounced_function_is_debounced_too(engine):
    # Inngest debounces every run it schedules (executor.go Schedule), a cron's included.
    _dispatcher(engine, start=False)
    trigger = Trigger.objects.get(function__slug__endswith="-cron-debounced")

    cron_fire_due(now=trigger.next_fire_at)

    assert not Run.objects.filter(function=trigger.function).exists()
    pending = PendingDebounce.objects.get(function=trigger.function)
    assert pending.event.name == "inngest/scheduled.timer"
