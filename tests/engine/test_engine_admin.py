from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.models import App, Function, QueueItem, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_work():
    app = App.objects.create(name="shop", url="http://shop/api/inngest", synced_at=timezone.now())
    broken = App.objects.create(name="broken", url="http://b", sync_error="function 'x': throttling not supported")
    function = Function.objects.create(
        app=app,
        slug="shop-send",
        step_url="http://shop/api/inngest?fnId=shop-send&stepId=step",
        concurrency=[{"scope": "fn", "key": "event.data.tenantId", "limit": 2}],
    )
    Function.objects.create(app=broken, slug="broken-x", step_url="http://b")
    now = timezone.now()
    for index, (key, when, owner) in enumerate(
        [
            ("f:shop-send:t1", now - timedelta(seconds=5), None),
            ("f:shop-send:t1", now - timedelta(seconds=1), None),
            ("f:shop-send:t1", now + timedelta(minutes=5), None),
            ("f:shop-send:t2", now, "dispatcher-1"),
        ]
    ):
        run = Run.objects.create(run_id=f"RUN{index}", function=function, created_at=now)
        QueueItem.objects.create(
            run=run,
            function=function,
            max_attempts=5,
            queue_key=key,
            available_at=when,
            order_at=when,
            lease_owner=owner,
        )
    return function


def test_the_function_list_shows_sync_status_triggers_and_queued_work(admin_client, queued_work):
    response = admin_client.get("/admin/engine/function/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "shop-send" in page and "synced" in page
    assert "app sync error: function &#x27;x&#x27;: throttling not supported" in page
    assert "event.data.tenantId ≤ 2 [fn]" in page
    assert "Queue depth per key" in page


def test_the_queue_depth_page_counts_ready_scheduled_and_in_flight_per_key(admin_client, queued_work):
    response = admin_client.get("/admin/engine/function/queue-depth/")

    assert response.status_code == 200
    depths = {(row.function_slug, row.queue_key): row for row in response.context["depths"]}
    t1, t2 = depths[("shop-send", "f:shop-send:t1")], depths[("shop-send", "f:shop-send:t2")]
    assert (t1.ready, t1.scheduled, t1.in_flight) == (2, 1, 0)
    assert (t2.ready, t2.scheduled, t2.in_flight) == (0, 0, 1)


def test_the_engine_admin_is_read_only(admin_client, queued_work):
    assert admin_client.get("/admin/engine/function/add/").status_code == 403
    response = admin_client.post(f"/admin/engine/function/{queued_work.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Function.objects.filter(pk=queued_work.pk).exists()


def test_the_app_list_says_the_signing_key_reads_every_agencys_data(admin_client, queued_work):
    body = admin_client.get("/admin/engine/app/").content.decode()

    assert "reads every agency" in body and "INNGEST_SIGNING_KEY" in body
