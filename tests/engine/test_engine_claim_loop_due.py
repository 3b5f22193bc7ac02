"""The claim loop never sleeps past an item that fell due while it was claiming (dispatcher.py, wakeup.py).

A 5 ms sleep's item is stored, not yet due, while a claim looks; on a loaded machine it is due by the time the loop
reads its timers. Before, the timers read only items due after *that* read, so this one counted as neither claimable
nor coming: the loop slept its idle limit (an hour with ENGINE_POLL_INTERVAL=3600; CI caught a sleeper hanging).
Nothing here is timed: the item's due time is set after the claim has looked, and the loop's wait is an hour.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from jobs.engine.dispatcher import Dispatcher
from jobs.engine.models import App, Function, QueueItem, Run
from jobs.engine.services.claims import queue_claim

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def item():
    app = App.objects.create(name="due", url="http://due")
    function = Function.objects.create(app=app, slug="due-fn", step_url="http://due")
    run = Run.objects.create(run_id="due-run", function=function, created_at=timezone.now())
    far = timezone.now() + timedelta(hours=1)
    return QueueItem.objects.create(
        run=run, function=function, step_id="wake", max_attempts=1, queue_key="f:due-fn", available_at=far, order_at=far
    )


def test_an_item_that_falls_due_while_a_claim_looks_is_claimed_next_not_after_the_idle_limit(item):
    dispatcher = Dispatcher(app_urls=["http://due"], poll_interval=3600, lease_seconds=30)
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
    loop = threading.Thread(target=dispatcher.run_claim_loop, daemon=True)
    loop.start()
    loop.join(60)  # only ends a hung test: the loop's own wait is an hour
    dispatcher._stop.set()
    dispatcher._wake.set()
    loop.join(10)
    connections.close_all()

    assert claims == [0, 1], "the item that fell due during the claim waited for the idle limit"
