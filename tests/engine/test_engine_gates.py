"""Run-start options through the real engine and SDK: idempotency, rate limit, throttle and singleton."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest

from jobs.engine.models import Function, QueueItem, Run

from .gate_functions import GATES_PATH
from .register_body import assert_stored_with_config_error

pytestmark = [pytest.mark.urls("tests.engine.urls_gates"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gated(engine):
    """The engine with the flow-control test app synced; `start()` starts its dispatcher."""

    def start(**options):
        return engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"], **options)

    engine.start_gates = start
    return engine


def _skipped(suffix: str) -> Counter:
    from jobs.engine.gate_models import SkippedRun  # imported here so the file ran against the engine before it

    return Counter(SkippedRun.objects.filter(function__slug__endswith=suffix).values_list("reason", flat=True))


def _skip_details(suffix: str) -> list[str]:
    from jobs.engine.gate_models import SkippedRun

    return list(SkippedRun.objects.filter(function__slug__endswith=suffix).values_list("detail", flat=True))


def _later(monkeypatch, delta: timedelta) -> None:
    """Flow control's clock, moved on (an injected clock: no test waits for a period to pass)."""
    from jobs.engine import gates

    monkeypatch.setattr(gates, "_clock", lambda now: now + delta)


def test_an_idempotency_key_starts_one_run_per_key_for_24_hours(gated, recorder, settings, monkeypatch):
    settings.ENGINE_DELAY_SCALE = 1.0  # the 24 h are real here; the clock is moved instead
    gated.start_gates()

    gated.send_many([{"name": "gates/idempotent", "data": {"key": key}} for key in ("a1", "a1", "b7")])
    gated.send("gates/idempotent", {"key": "a1"})

    runs = gated.wait_for_runs("-idempotent", 2)
    assert sorted(run.events[0]["data"]["key"] for run in runs) == ["a1", "b7"]
    assert _skipped("-idempotent") == {"idempotency": 2}
    assert "idempotency key already used" in _skip_details("-idempotent")[0]

    _later(monkeypatch, timedelta(hours=24, minutes=1))
    gated.send("gates/idempotent", {"key": "a1"})
    runs = gated.wait_for_runs("-idempotent", 3)
    assert Counter(run.events[0]["data"]["key"] for run in runs) == {"a1": 2, "b7": 1}
    assert Run.objects.filter(function__slug__endswith="-idempotent").count() == 3


def test_a_rate_limit_skips_events_over_the_limit_per_key_and_allows_after_the_period(
    gated, recorder, settings, monkeypatch
):
    settings.ENGINE_DELAY_SCALE = 1.0
    gated.start_gates()

    gated.send_many([{"name": "gates/rate.limited", "data": {"key": key}} for key in ("c1", "c1", "c1", "c2")])
    # Events without the key's field share one key (Inngest evaluates a missing field as null).
    gated.send_many([{"name": "gates/rate.limited", "data": {}} for _ in range(2)])

    runs = gated.wait_for_runs("-rate-limited", 3)
    assert sorted(str(run.events[0]["data"].get("key")) for run in runs) == ["None", "c1", "c2"]
    assert _skipped("-rate-limited") == {"rate_limit": 3}

    _later(monkeypatch, timedelta(minutes=30))  # 1 per hour: not yet
    gated.send("gates/rate.limited", {"key": "c1"})
    _later(monkeypatch, timedelta(minutes=61))
    gated.send("gates/rate.limited", {"key": "c1"})

    runs = gated.wait_for_runs("-rate-limited", 4)
    assert Counter(run.events[0]["data"].get("key") for run in runs) == {"c1": 2, "c2": 1, None: 1}
    assert _skipped("-rate-limited") == {"rate_limit": 4}


def test_gcra_admits_a_burst_of_a_tenth_of_the_limit_then_one_per_interval():
    """Inngest's rate limiter (ratelimit.lua) with its burst of limit/10: 20 per minute lets 3 through at once."""
    from jobs.engine import gates

    minute = 60 * 10**9
    tat, admitted = None, 0
    for _ in range(5):
        new_tat = gates.gcra_rate_limit(tat, 0, minute, 20, 2)
        if new_tat is not None:
            tat, admitted = new_tat, admitted + 1
    assert admitted == 3
    assert gates.gcra_rate_limit(tat, minute // 20 - 1, minute, 20, 2) is None  # one interval is 3 s
    assert gates.gcra_rate_limit(tat, minute // 20, minute, 20, 2) is not None


def test_a_throttle_delays_runs_over_the_rate_in_order_and_drops_none(gated, recorder):
    # Synced, not started: the queue is read before anything runs. The order checked is the claims' (a run's
    # `started_at` is its first claim's time; one claimer at a time), not the order the requests reach the app:
    # besides its one slot the dispatcher has a spare for a key queue with nothing in flight, which can take the
    # next run between one answer being stored and its slot being freed, and two requests then race.
    dispatcher = gated.start_gates(start=False, max_in_flight=1)
    gated.send_many(
        [{"name": "gates/throttled", "data": {"key": "t1", "seq": seq}} for seq in range(5)]
        + [{"name": "gates/throttled", "data": {"key": "t2", "seq": 10}}]
    )

    # Nothing is reserved at queue time: the slot is taken when a run's first request is claimed (throttle.py;
    # tests/engine/test_engine_throttle.py reads the slots claim by claim).
    for item in QueueItem.objects.filter(function__slug__endswith="-throttled").select_related("run"):
        assert item.available_at == item.run.created_at

    dispatcher.start()
    gated.wait_for_runs("-throttled", 6)
    started = Run.objects.filter(function__slug__endswith="-throttled").order_by("started_at", "id")
    order = [run.events[0]["data"]["seq"] for run in started if run.events[0]["data"]["key"] == "t1"]
    assert order == [0, 1, 2, 3, 4]
    assert sorted(e["seq"] for e in recorder.executions if e["key"] == "t1") == [0, 1, 2, 3, 4]  # none dropped


def test_singleton_skip_starts_no_run_while_one_for_the_key_is_running(gated, recorder, wait_until):
    gated.start_gates()
    gated.send("gates/single.skip", {"key": "k1", "hold": "first"})
    wait_until(lambda: recorder.executions, message="the first run's step to be executing")

    gated.send_many(
        [
            {"name": "gates/single.skip", "data": {"key": "k1"}},
            {"name": "gates/single.skip", "data": {"key": "k2"}},
            {"name": "gates/single.skip", "data": {"key": "k3"}},
            {"name": "gates/single.skip", "data": {"key": "k3"}},  # the same send: the first holds the key
        ]
    )
    gated.wait_for_runs("-single-skip", 2)  # k2 and the first k3 finish while k1 is still held
    assert _skipped("-single-skip") == {"singleton": 2}

    recorder.open("first")
    gated.wait_for_runs("-single-skip", 3)
    gated.send("gates/single.skip", {"key": "k1"})  # k1 is free again
    runs = gated.wait_for_runs("-single-skip", 4)
    assert Counter(run.events[0]["data"]["key"] for run in runs) == {"k1": 2, "k2": 1, "k3": 1}
    assert {run.status for run in runs} == {Run.Status.COMPLETED}


def test_singleton_cancel_cancels_the_running_run_and_starts_the_new_one(gated, recorder, wait_until):
    gated.start_gates()
    gated.send("gates/single.cancel", {"key": "k1", "hold": "old"})
    wait_until(lambda: recorder.executions, message="the first run's step to be executing")
    first = Run.objects.get(function__slug__endswith="-single-cancel")

    gated.send("gates/single.cancel", {"key": "k1", "seq": 2})

    first.refresh_from_db()
    assert first.status == Run.Status.CANCELLED
    assert first.error["reason"] == "singleton: replaced by a newer run"
    runs = gated.wait_for_runs("-single-cancel", 1)
    assert runs[0].events[0]["data"]["seq"] == 2
    recorder.open("old")  # the old run's step finishes, but nothing follows it
    second = runs[0]
    assert recorder.steps_of(second.run_id) == ["work", "after"]
    wait_until(lambda: any(r.run_id == first.run_id for r in gated.records), message="the old step's answer")
    assert [r.outcome for r in gated.records if r.run_id == first.run_id] == ["lease-lost"]
    assert recorder.count(first.run_id, "after") == 0
    assert not QueueItem.objects.filter(run=first).exists()


def _register(live_server, **options) -> httpx.Response:
    url = f"{live_server.url}{GATES_PATH}"
    function = {
        "id": "flow-fn",
        "name": "fn",
        "triggers": [{"event": "a/b"}],
        "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http", "url": f"{url}?fnId=x"}}},
        **options,
    }
    body = {"appname": "flow-app", "url": url, "framework": "django", "sdk": "py:v0.5.19", "functions": [function]}
    return httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"singleton": {"mode": "queue"}}, "singleton `mode` must be 'skip' or 'cancel'"),
        ({"rateLimit": {"limit": 5, "period": "48h"}}, "rateLimit `period` must be at most 24h"),
        ({"rateLimit": {"limit": 0, "period": "1m"}}, "rateLimit `limit` must be a positive integer"),
        ({"idempotency": "event.data.id +"}, "idempotency key"),
        ({"priority": {"run": "async.data.p"}}, "priority `run`"),
        ({"timeouts": {"start": "soon"}}, "timeouts `start`"),
    ],
    ids=["mode", "period", "limit", "idempotency", "priority", "timeout"],
)
def test_an_option_the_engine_cannot_run_exactly_is_the_functions_config_error_saying_why(
    live_server, options, message
):
    response = _register(live_server, **options)

    assert_stored_with_config_error(response, "flow-fn", message)


def test_the_run_start_options_are_accepted_and_no_longer_refused(live_server):
    response = _register(
        live_server,
        idempotency="event.data.id",
        singleton={"mode": "cancel", "key": "event.data.contactId"},
        priority={"run": "event.data.source == 'api' ? 120 : 0"},
        timeouts={"start": "1m", "finish": "1h"},
    )

    assert response.status_code == 200, response.text
    assert Function.objects.get(slug="flow-fn").config_error == ""


@pytest.mark.urls("nurturehub.urls")
def test_the_admin_lists_skipped_runs_with_their_reason(admin_client, live_server, settings):
    from jobs.engine.gate_models import SkippedRun
    from jobs.engine.models import Event
    from jobs.engine.protocol import IncomingEvent
    from jobs.engine.services.intake import events_ingest

    settings.ENGINE_DELAY_SCALE = 1.0
    assert _register(live_server, rateLimit={"limit": 1, "period": "1h"}).status_code == 200
    events_ingest(events=[IncomingEvent(name="a/b", data={}, ts=1, external_id="") for _ in range(2)])

    assert Run.objects.count() == 1
    skipped = SkippedRun.objects.get()
    assert skipped.event == Event.objects.order_by("id").last()
    page = admin_client.get("/admin/engine/skippedrun/").content.decode()
    assert "Rate limited" in page and "flow-fn" in page and "over 1 per 3600s" in page
