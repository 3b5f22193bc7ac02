"""`/metrics` with the local engine on: its queue per function and state (ready, scheduled, in flight), oldest ages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.engine.models import App, Function, QueueItem, Run

from .test_metrics import samples

pytestmark = pytest.mark.django_db

ITEMS, AGE = "nurturehub_engine_queue_items", "nurturehub_engine_queue_oldest_age_seconds"


@pytest.fixture
def queue():
    """Function `send`: two ready items (due 60 s and 5 s ago), one scheduled (due in 5 min, enqueued 10 min ago),
    one in flight (due 30 s ago, claimed); function `idle`: none."""
    app = App.objects.create(name=settings.INNGEST_APP_ID, url="http://web/api/inngest", synced_at=timezone.now())
    send = Function.objects.create(app=app, slug=f"{settings.INNGEST_APP_ID}-send", step_url="http://web/api/inngest")
    Function.objects.create(app=app, slug=f"{settings.INNGEST_APP_ID}-idle", step_url="http://web/api/inngest")
    now = timezone.now()
    for index, (due, owner) in enumerate(
        [
            (now - timedelta(seconds=60), None),
            (now - timedelta(seconds=5), None),
            (now + timedelta(minutes=5), None),
            (now - timedelta(seconds=30), "dispatcher-1"),
        ]
    ):
        run = Run.objects.create(run_id=f"RUN{index}", function=send, created_at=now)
        item = QueueItem.objects.create(
            run=run,
            function=send,
            max_attempts=5,
            queue_key=f"f:send:{index}",
            available_at=due,
            order_at=due,
            lease_owner=owner,
            lease_expires_at=now + timedelta(minutes=1) if owner else None,
        )
        QueueItem.objects.filter(pk=item.pk).update(created_at=now - timedelta(minutes=10))
    return send


def test_the_engine_queue_is_counted_per_function_and_state_with_the_oldest_age(client, queue):
    found = samples(client)

    def items(function, state):
        return found[(ITEMS, (("function", function), ("state", state)))]

    def age(state):
        return found[(AGE, (("function", "send"), ("state", state)))]

    assert (items("send", "ready"), items("send", "scheduled"), items("send", "in_flight")) == (2, 1, 1)
    assert (items("idle", "ready"), items("idle", "scheduled"), items("idle", "in_flight")) == (0, 0, 0)
    # The oldest of each state, not the newest: the ready item due 60 s ago, not the one due 5 s ago.
    assert 60 <= age("ready") < 600
    assert 600 <= age("scheduled") < 1200
    assert 30 <= age("in_flight") < 60 + 30
    assert not any(name == AGE and ("function", "idle") in labels for name, labels in found)


def test_the_engine_queue_is_read_in_one_query_however_many_items(queue):
    engine = apps.get_app_config("engine")
    with CaptureQueriesContext(connection) as few:
        engine.queue_stats()
    for index in range(20):
        run = Run.objects.create(run_id=f"MORE{index}", function=queue, created_at=timezone.now())
        QueueItem.objects.create(
            run=run, function=queue, max_attempts=5, queue_key="k", available_at=timezone.now(), order_at=timezone.now()
        )
    with CaptureQueriesContext(connection) as many:
        stats = engine.queue_stats()

    assert len(few) == len(many) == 1
    assert {(row.function_slug, row.state): row.items for row in stats}[(queue.slug, "ready")] == 22


def test_without_the_engine_no_queue_series_are_exposed(client, queue, monkeypatch):
    assert any(name == ITEMS for name, _labels in samples(client))  # the same queue, the engine on
    installed = apps.is_installed
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "jobs.engine" and installed(name))

    found = samples(client)

    assert not any(name in (ITEMS, AGE) for name, _labels in found)
