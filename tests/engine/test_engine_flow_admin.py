"""The engine admin's flow-control page: what is held right now, through the real engine and SDK.

A pending debounce and an open batch (held at intake), a run waiting for an event, a run held by a throttle and a
skipped run, each listed with its function, key, due time and run, read-only.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.gate_models import SkippedRun
from jobs.engine.models import Pause, PendingBatch, PendingDebounce, QueueItem, Run

from .delayed_functions import DELAYED_SERVE_PATH
from .functions import SERVE_PATH
from .gate_functions import GATES_PATH

pytestmark = [pytest.mark.urls("tests.engine.urls_flow_admin"), pytest.mark.django_db(transaction=True)]


def section(body: str, anchor: str) -> str:
    return body.split(f'id="{anchor}"', 1)[1].split("</table>", 1)[0]


def test_the_flow_control_page_lists_what_is_held_with_key_due_time_and_links(
    engine, recorder, wait_until, settings, admin_client
):
    settings.ENGINE_DELAY_SCALE = 1.0  # real periods: nothing held is released while the page is read
    dispatcher = engine.start_dispatcher(
        app_urls=[f"{engine.url}{path}" for path in (GATES_PATH, DELAYED_SERVE_PATH, SERVE_PATH)], start=False
    )
    engine.send("test/debounced", {"contactId": "c-42", "seq": 1})
    PendingDebounce.objects.update(fire_at=timezone.now() + timedelta(hours=1))  # well clear of the dispatcher
    engine.send("test/batched", {"tenantId": "t-7", "seq": 1})
    engine.send_many([{"name": "gates/throttled", "data": {"key": "k-9", "seq": n}} for n in range(3)])
    engine.send_many([{"name": "gates/idempotent", "data": {"key": "i-1"}} for _ in range(2)])
    dispatcher.start()
    engine.send("test/approval.requested", {"requestId": "r-5"})
    wait_until(lambda: Pause.objects.exists(), message="the approval run to wait")

    body = admin_client.get("/admin/engine/function/flow-control/").content.decode()

    (debounce,) = PendingDebounce.objects.select_related("function")
    debounces = section(body, "nh-flow-debounces")
    assert debounce.function.slug in debounces and debounce.key in debounces
    assert f"{timezone.localtime(debounce.fire_at):%Y-%m-%d %H:%M:%S}" in debounces
    (batch,) = PendingBatch.objects.select_related("function")
    batches = section(body, "nh-flow-batches")
    assert batch.function.slug in batches and "1 event(s)" in batches
    (pause,) = Pause.objects.select_related("run")
    pauses = section(body, "nh-flow-pauses")
    assert pause.run.run_id in pauses and "test/approval.given" in pauses and "async.data.requestId" in pauses
    held = QueueItem.objects.get(
        step_id=QueueItem.DISCOVERY, run__status=Run.Status.QUEUED, available_at__gt=timezone.now()
    )
    throttled = section(body, "nh-flow-throttled")
    assert held.run.run_id in throttled and "<code>k-9</code>" in throttled
    (skip,) = SkippedRun.objects.all()
    skipped = section(body, "nh-flow-skipped")
    assert "Idempotency key already used" in skipped and skip.function.slug in skipped
    assert f'href="/admin/engine/function/{debounce.function.pk}/change/"' in debounces
