"""`POST /e/<key>` and `POST /fn/register` over real HTTP: a bad request gets a 4xx, a clear message, no writes."""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest
from django.db import connections, transaction
from django.utils import timezone

from jobs.engine.models import App, Event, Function, QueueItem, Run, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services.intake import events_ingest, runs_start
from tests.engine.register_body import assert_stored_with_config_error, register_body
from tests.waiting import while_one_holds_a_lock_another_waits

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def _post_events(live_server, content: bytes, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/e/any-key",
        content=content,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"name": "a/b", "data": {}}', 400, "must be a JSON array"),
        (b"[{'name': 'a/b'}", 400, "not valid JSON"),
        (b"[]", 400, "empty array"),
        (json.dumps([{"name": "a/b", "data": {"x": "y" * 3_200_000}}]).encode(), 413, "(3 MiB) per event"),
        (json.dumps([{"name": "a/b"}] * 5001).encode(), 413, "the limit is 5000"),
        (json.dumps([{"name": "inngest/function.failed", "data": {}}]).encode(), 400, "reserved `inngest/` prefix"),
        (json.dumps([{"name": "a/b"}, {"name": "inngest/x"}]).encode(), 400, "event [1]"),
        (json.dumps([{"name": "a/b", "data": []}]).encode(), 400, "`data` must be a JSON object"),
        (json.dumps([{"name": "a/b", "ts": "yesterday"}]).encode(), 400, "`ts` must be milliseconds"),
        (json.dumps([{"data": {}}]).encode(), 400, "non-empty string `name`"),
        (json.dumps(["a/b"]).encode(), 400, "must be a JSON object"),
    ],
    ids=[
        "not-an-array",
        "invalid-json",
        "empty",
        "event-over-3mib",
        "over-5000-events",
        "reserved-name",
        "one-bad-event-in-a-batch",
        "data-not-object",
        "bad-ts",
        "no-name",
        "event-not-object",
    ],
)
def test_a_bad_intake_request_gets_a_4xx_with_a_clear_message_and_stores_nothing(live_server, body, status, message):
    response = _post_events(live_server, body)

    assert response.status_code == status
    payload = response.json()
    assert message in payload["error"]
    assert payload["ids"] == []
    assert Event.objects.count() == 0
    assert Run.objects.count() == 0


def test_events_up_to_the_dev_servers_3_mib_each_are_accepted_in_one_large_request(live_server):
    # Inngest's dev server bounds each event (AbsoluteMaxEventSize), not the request: 8 events of 1 MB, as
    # the SDK suite's batch_that_needs_api sends them, are one 8 MB request.
    events = [{"name": "a/b", "data": {"seq": seq, "msg": "a" * 1024 * 1024}} for seq in range(8)]

    response = _post_events(live_server, json.dumps(events).encode())

    assert response.status_code == 200, response.text
    assert len(response.json()["ids"]) == 8
    assert sorted(Event.objects.values_list("data__seq", flat=True)) == list(range(8))


def test_a_retried_send_with_the_same_seed_gets_the_same_ids_and_is_stored_once(live_server):
    seed = f"1764000000000,{base64.b64encode(bytes(range(10))).decode()}"
    body = json.dumps([{"name": "shop/order.placed", "data": {"n": 1}}, {"name": "shop/order.placed"}]).encode()

    first = _post_events(live_server, body, {"x-inngest-event-id-seed": seed})
    second = _post_events(live_server, body, {"x-inngest-event-id-seed": seed})

    assert first.status_code == second.status_code == 200
    assert first.json()["ids"] == second.json()["ids"]
    assert len(set(first.json()["ids"])) == 2
    assert Event.objects.count() == 2


def test_two_sends_of_one_batch_at_once_store_it_once_and_both_get_its_ids():
    """The SDK sends a batch again when it got no answer, maybe while the first send is still being stored: the
    second waits for the first's rows and skips them. (It failed on the unique id before: a 500 to the SDK.)"""
    seed = f"1764000000000,{base64.b64encode(bytes(range(10))).decode()}"
    events = [IncomingEvent("shop/order.placed", {"n": n}, 1_764_000_000_000, "") for n in range(2)]
    holding, release = threading.Event(), threading.Event()
    answers: dict[str, object] = {}

    def send(name: str, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                answers[name] = events_ingest(events=events, seed=seed)
                if hold:
                    holding.set()
                    assert release.wait(60)
        except Exception as error:
            answers[name] = error
        finally:
            connections.close_all()

    while_one_holds_a_lock_another_waits(
        lambda: send("first", hold=True), lambda: send("second", hold=False), holding=holding, release=release
    )

    assert answers["second"] == answers["first"]
    assert Event.objects.count() == 2


def test_intake_strips_data_inngest_and_defaults_ts(live_server):
    response = _post_events(live_server, json.dumps([{"name": "a/b", "data": {"_inngest": {"x": 1}, "k": 2}}]).encode())

    assert response.status_code == 200
    event = Event.objects.get()
    assert event.data == {"k": 2}
    assert event.ts > 1_700_000_000_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"concurrency": [{"key": "event.data.id +", "limit": 1}]},
            "concurrency key 'event.data.id +' is not valid CEL",
        ),
        ({"concurrency": [{"limit": 1, "scope": "env"}]}, "scope 'env' needs a `key`"),
        ({"triggers": [{"event": "a/b", "expression": "async.data.n > 3"}]}, "only `event` can be used here"),
        ({"triggers": [{"cron": "every day at two"}]}, "invalid cron"),
        ({"debounce": {"period": "500ms"}}, "debounce `period` must be from 1s to 7d"),
        ({"debounce": {"period": "5s", "key": "event.data.("}}, "debounce `key`"),
        ({"batchEvents": {"maxSize": 1, "timeout": "5s"}}, "`maxSize` must be an integer from 2 to 10000"),
        ({"batchEvents": {"maxSize": 5}, "debounce": {"period": "5s"}}, "batching and debouncing are mutually"),
    ],
    ids=[
        "concurrency-key",
        "scope-without-key",
        "expression",
        "cron",
        "debounce-period",
        "debounce-key",
        "batch-size",
        "batch-and-debounce",
    ],
)
def test_an_unsupported_function_config_is_stored_as_that_functions_error(live_server, overrides, message):
    response = httpx.post(f"{live_server.url}/fn/register", json=register_body(live_server, **overrides), timeout=30)

    assert_stored_with_config_error(response, "bad-app-fn", message)
    assert App.objects.get(name="bad-app").sync_error == ""


def test_a_sync_no_function_can_be_stored_from_is_a_400_with_inngests_error_body(live_server):
    body = register_body(live_server)
    body["functions"].append({"name": "no id"})

    response = httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30)

    assert response.status_code == 400
    # Inngest's error body carries `status` (publicerr.WriteHTTP); inngest-js reads it to report the failure.
    assert response.json()["status"] == 400
    assert "every function needs a string `id`" in response.json()["error"]
    assert Function.objects.count() == 0
    assert "every function needs a string `id`" in App.objects.get(name="bad-app").sync_error


def test_register_answers_like_the_dev_server_and_reports_unchanged_syncs(live_server):
    body = register_body(live_server, concurrency=[{"key": "event.data.tenantId", "limit": 3}])

    first = httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30).json()
    second = httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30).json()

    assert first["ok"] is True and first["modified"] is True
    assert second["modified"] is False
    assert first["app_id"] == second["app_id"] == str(App.objects.get().id)
    function = Function.objects.get(slug="bad-app-fn")
    assert function.concurrency == [{"scope": "fn", "key": "event.data.tenantId", "limit": 3}]
    assert function.max_attempts == 5  # no retries given: Inngest's default of 4 retries


def test_the_dispatcher_reports_a_sync_error_from_the_body_even_though_the_sdk_answers_200(live_server, settings):
    from jobs.engine.dispatcher import Dispatcher

    dispatcher = Dispatcher(app_urls=[f"{live_server.url}/api/inngest-test"])
    # Make the test app's functions unacceptable: another app already owns one of their ids.
    other = App.objects.create(name="other", url="http://elsewhere")
    Function.objects.create(app=other, slug="engine-tests-three-step", step_url="http://elsewhere")

    errors = dispatcher.sync_apps()

    assert "already belong to another app" in errors[f"{live_server.url}/api/inngest-test"]
    assert not Function.objects.filter(app__name="engine-tests").exists()


@pytest.mark.parametrize(
    ("concurrency", "stored"),
    [
        (1, [{"scope": "fn", "key": None, "limit": 1}]),
        (5, [{"scope": "fn", "key": None, "limit": 5}]),
        ({"limit": 2, "key": "event.data.id"}, [{"scope": "fn", "key": "event.data.id", "limit": 2}]),
    ],
    ids=["number-1", "number-5", "one-object"],
)
def test_the_documented_concurrency_shorthands_sync_as_one_function_limit(live_server, concurrency, stored):
    response = httpx.post(
        f"{live_server.url}/fn/register", json=register_body(live_server, concurrency=concurrency), timeout=30
    )

    assert response.status_code == 200, response.text
    function = Function.objects.get(slug="bad-app-fn")
    assert function.config_error == ""
    assert function.concurrency == stored


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5], ids=["zero", "negative", "bool", "float"])
def test_a_concurrency_number_that_is_not_a_positive_integer_is_a_config_error(live_server, concurrency):
    response = httpx.post(
        f"{live_server.url}/fn/register", json=register_body(live_server, concurrency=concurrency), timeout=30
    )

    assert_stored_with_config_error(response, "bad-app-fn", "concurrency")


def test_the_runs_a_batch_starts_are_stored_in_its_order_each_with_its_first_request():
    """runs_start stores the runs and their discovery items in one statement: the runs in the batch's order, each
    with one discovery item, ready now, on its tenant's key queue with the key's limit."""
    app = App.objects.create(name="order", url="http://order/api/inngest")
    function = Function.objects.create(
        app=app,
        slug="fn",
        step_url="http://order/api/inngest?fnId=fn",
        concurrency=[{"scope": "fn", "key": "event.data.tenant", "limit": 3}],
    )
    Trigger.objects.create(function=function, event_name="order/go")
    events = [
        IncomingEvent("order/go", {"tenant": tenant, "n": n}, 1_764_000_000_000 + n, "")
        for n, tenant in enumerate(["a", "b", "a"])
    ]

    events_ingest(events=events)

    stored = list(Run.objects.order_by("id"))
    assert [run.events[0]["data"]["n"] for run in stored] == [0, 1, 2]
    assert [run.status for run in stored] == ["queued"] * 3
    items = list(QueueItem.objects.order_by("id"))
    assert [item.run_id for item in items] == [run.pk for run in stored]
    assert [(item.step_id, item.attempt, item.generation) for item in items] == [(QueueItem.DISCOVERY, 0, 0)] * 3
    assert items[0].queue_key == items[2].queue_key != items[1].queue_key
    assert [item.limit1 for item in items] == [3, 3, 3]
    assert all(item.available_at == item.order_at and item.lease_owner is None for item in items)


def test_runs_start_returns_the_runs_as_stored():
    app = App.objects.create(name="same", url="http://same/api/inngest")
    function = Function.objects.create(app=app, slug="fn", step_url="http://same/api/inngest?fnId=fn")
    event = Event.objects.create(internal_id="E" * 26, name="same/go", data={"k": 1}, ts=5, received_at=timezone.now())

    (run,) = runs_start([(function, event)], now=timezone.now())

    fields = [field.attname for field in Run._meta.concrete_fields]
    stored = Run.objects.get(pk=run.pk)
    assert [getattr(run, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert run._state.adding is False
