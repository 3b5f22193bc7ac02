"""Leases per claim: a lost lease never sends a request, never applies an answer, never runs a completed step again."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from jobs.engine.models import QueueItem, Run
from jobs.engine.services.call_request import call_request_build
from jobs.engine.services.claims import queue_claim, queue_reap_expired

from .capacity_functions import HOLDS

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def holds():
    HOLDS.clear()
    yield HOLDS
    for event in HOLDS.values():
        event.set()
    HOLDS.clear()


def _firsts(recorder) -> int:
    with recorder.lock:
        return sum(e["step"] == "first" for e in recorder.executions)


def _expire_and_reap(item: QueueItem) -> None:
    """What a database stalled past the lease leads to: the lease runs out and a reaper makes the item ready."""
    with transaction.atomic():  # a heartbeat in between waits for the row, then finds the lease gone
        QueueItem.objects.filter(pk=item.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert queue_reap_expired() == 1


def test_an_item_reclaimed_while_its_request_is_in_flight_is_not_sent_again(engine, recorder, holds, wait_until):
    holds["h"] = threading.Event()
    dispatcher = engine.start_dispatcher()
    engine.send("test/held", {"hold": "h"})
    wait_until(lambda: _firsts(recorder) == 1, message="the first step to be in flight")
    item = QueueItem.objects.get()
    first_token = item.lease_owner

    _expire_and_reap(item)
    # The same dispatcher claims it again while its first request is still in flight.
    wait_until(
        lambda: QueueItem.objects.filter(pk=item.pk, lease_owner__isnull=False).exists(),
        message="the item to be claimed again",
    )
    second_token = QueueItem.objects.get(pk=item.pk).lease_owner
    holds["h"].set()

    (run,) = engine.wait_for_runs("-held", 1)
    assert run.status == Run.Status.COMPLETED
    assert Counter(e["step"] for e in recorder.executions) == {"first": 1, "second": 1}
    assert first_token != second_token and dispatcher.owner in first_token and dispatcher.owner in second_token


def test_an_answer_under_a_lost_lease_is_refused(engine, recorder, holds, wait_until):
    holds["h"] = threading.Event()
    first = engine.start_dispatcher()
    engine.send("test/held", {"hold": "h"})
    wait_until(lambda: _firsts(recorder) == 1, message="the first step to be in flight")
    item = QueueItem.objects.get()
    with transaction.atomic():  # reaped and claimed by another dispatcher before the first one can claim it again
        _expire_and_reap(item)
        taken = []
        while not taken:  # (a claim finding the claim lock held by the running dispatcher takes nothing)
            taken = queue_claim(owner="another-dispatcher/1", capacity=1, lease_seconds=60)
    assert [claimed.id for claimed in taken] == [item.pk]

    holds["h"].set()
    wait_until(lambda: any(r.outcome == "lease-lost" for r in engine.records), message="the answer to be refused")

    item.refresh_from_db()
    assert item.lease_owner == "another-dispatcher/1" and item.step_id == QueueItem.DISCOVERY  # untouched
    assert not Run.objects.get().steps_done  # the refused answer stored no memo
    assert first.owner not in item.lease_owner


def test_a_dispatcher_frozen_past_its_lease_sends_nothing(engine, recorder, holds):
    holds["h"] = threading.Event()
    holds["h"].set()
    dispatcher = engine.start_dispatcher(start=False)  # synced; claims by hand below
    dispatcher._steps.start()
    engine.send("test/held", {"hold": "h"})

    def claim_and_execute(*, expires_in: float) -> str:
        (item,) = queue_claim(owner=f"{dispatcher.owner}/1", capacity=1, lease_seconds=60)
        # As a dispatcher finds it on waking from SIGSTOP: by its own clock, the lease ran out while it was frozen.
        dispatcher._in_flight.hold([item], token=f"{dispatcher.owner}/1", expires=time.monotonic() + expires_in)
        lease = dispatcher._in_flight[item.id]
        outcome = dispatcher._steps.submit(dispatcher.execute(item, lease)).result(timeout=60)
        return outcome.result

    assert claim_and_execute(expires_in=-1) == "lease-lost"
    assert recorder.executions == []  # nothing was sent
    QueueItem.objects.update(lease_owner=None, lease_expires_at=None)  # what the reaper does with it
    assert claim_and_execute(expires_in=60) == "step"  # the same item with a fresh lease goes
    assert [e["step"] for e in recorder.executions] == ["first"]


def test_a_lease_run_out_in_the_database_builds_no_request(engine, recorder):
    dispatcher = engine.start_dispatcher(start=False)
    engine.send("test/held", {"hold": "h"})
    (item,) = queue_claim(owner="frozen/1", capacity=1, lease_seconds=60)
    assert call_request_build(item_id=item.id, owner="frozen/1") is not None
    QueueItem.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))  # not reaped yet

    assert call_request_build(item_id=item.id, owner="frozen/1") is None
    assert dispatcher.owner  # (the dispatcher only synced the app)
