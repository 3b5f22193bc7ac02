"""Throttle taken where Inngest takes it: when a run's first request is claimed, only once it fits its concurrency
limits (a run held back by concurrency uses no slot), and combinable with every other option.

Claims are made directly (services.claims.queue_claim, the dispatcher's own call) on the real database, so which
item waits, and until when, is read exactly; the SDK is never called.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from jobs.engine.gate_models import GcraKey
from jobs.engine.models import Function, QueueItem
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services.claims import queue_claim
from jobs.engine.services.intake import events_ingest
from tests.engine.register_body import register_body

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def unscaled(settings):
    settings.ENGINE_DELAY_SCALE = 1.0  # periods as written: an hour is an hour, so nothing here races a clock


def _sync(live_server, **options) -> Function:
    response = httpx.post(f"{live_server.url}/fn/register", json=register_body(live_server, **options), timeout=30)
    assert response.status_code == 200, response.text
    function = Function.objects.get(slug="bad-app-fn")
    assert function.config_error == ""
    return function


def _send(*keys: str) -> None:
    events_ingest(
        events=[
            IncomingEvent(name="a/b", data={"key": key, "seq": n}, ts=0, external_id="") for n, key in enumerate(keys)
        ]
    )


def _claim() -> list[tuple[str, int]]:
    claimed = queue_claim(owner="test-claimer", capacity=10, lease_seconds=60)
    items = QueueItem.objects.filter(id__in=[c.id for c in claimed]).select_related("run")
    return sorted((item.run.events[0]["data"]["key"], item.run.events[0]["data"]["seq"]) for item in items)


@pytest.mark.parametrize(
    "other",
    [
        {"concurrency": 1},
        {"concurrency": [{"limit": 1, "key": "event.data.key"}]},
        {"priority": {"run": "1"}},
        {"timeouts": {"start": "10s"}},
        {"debounce": {"period": "5s"}},
        {"batchEvents": {"maxSize": 5, "timeout": "5s"}},
    ],
    ids=["concurrency", "keyed-concurrency", "priority", "start-timeout", "debounce", "batch"],
)
def test_throttle_syncs_with_every_option_it_was_refused_with(live_server, other):
    function = _sync(live_server, throttle={"limit": 1, "period": "1m"}, **other)

    assert function.config["throttle"] == {"limit": 1, "period": "1m"}


def test_a_run_held_by_concurrency_takes_no_throttle_slot_and_waits_for_one_once_it_fits(live_server):
    _sync(live_server, throttle={"limit": 1, "period": "1h"}, concurrency=1)
    before = timezone.now()
    _send("a", "a")

    # Nothing is reserved when the runs are queued: both first requests are ready now.
    assert all(item.available_at <= timezone.now() for item in QueueItem.objects.all())
    assert _claim() == [("a", 0)]  # concurrency 1: one run starts, and takes the throttle's one slot
    assert _claim() == []  # the other is held by concurrency ...
    assert QueueItem.objects.get(run__events__0__data__seq=1).available_at <= timezone.now()  # ... not by throttle
    assert GcraKey.objects.count() == 1

    QueueItem.objects.filter(lease_owner="test-claimer").delete()  # the first run's request answered: a slot frees

    assert _claim() == []  # it fits its concurrency now, but the hour's slot is taken: it waits, unleased
    waiting = QueueItem.objects.get()
    assert waiting.lease_owner is None
    assert before + timedelta(minutes=59) < waiting.available_at <= timezone.now() + timedelta(hours=1)


def test_a_keyed_throttle_admits_limit_plus_burst_at_once_then_defers_the_rest_to_their_slot(live_server):
    _sync(live_server, throttle={"limit": 1, "period": "1h", "burst": 1, "key": "event.data.key"})
    _send("t1", "t1", "t1", "t2")
    queued_at = timezone.now()

    assert _claim() == [("t1", 0), ("t1", 1), ("t2", 3)]  # limit 1 + burst 1 per key, FIFO within the key
    deferred = QueueItem.objects.get(lease_owner__isnull=True)
    assert deferred.run.events[0]["data"]["seq"] == 2
    # Inngest's throttle GCRA: after two slots the key's next one is one emission interval (period / limit) away.
    assert queued_at + timedelta(minutes=59) < deferred.available_at <= timezone.now() + timedelta(hours=1)
    assert _claim() == []
