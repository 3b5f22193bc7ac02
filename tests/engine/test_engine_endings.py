"""Ending a run (completed, failed, cancelled) leaves nothing of it waiting: no queue item, no pause, no stored
`step.ai.infer` request (whose options hold the provider's key)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.models import App, Function, GatewayRequest, Pause, QueueItem, Run
from jobs.engine.services.endings import run_cancel, run_complete, run_fail

pytestmark = pytest.mark.django_db


def _run_with_leftovers() -> Run:
    now = timezone.now()
    app = App.objects.create(name="svc", url="http://svc/api/inngest")
    function = Function.objects.create(app=app, slug="svc-fn", step_url="http://svc/api/inngest?fnId=svc-fn")
    run = Run.objects.create(run_id="R1", function=function, created_at=now, status=Run.Status.RUNNING)
    QueueItem.objects.create(
        run=run, function=function, max_attempts=1, queue_key="f:svc-fn", available_at=now, order_at=now
    )
    Pause.objects.create(
        run=run,
        kind=Pause.Kind.WAIT_FOR_EVENT,
        step_id="wait",
        event_name="a/b",
        expires_at=now + timedelta(hours=1),
        created_at=now,
    )
    GatewayRequest.objects.create(
        run=run, hashed_id="infer", opts={"headers": {"Authorization": "Bearer sk-live-secret"}}, created_at=now
    )
    return run


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
def test_an_ended_run_keeps_no_queue_item_pause_or_provider_request(ending):
    run = _run_with_leftovers()
    now = timezone.now()
    if ending == "completed":
        run_complete(run, {"ok": True}, now=now)
    elif ending == "failed":
        run_fail(run, {"name": "Error", "message": "boom"}, http_status=500, now=now)
    else:
        run_cancel(run_id=run.run_id)

    assert Run.objects.get(pk=run.pk).status == ending
    left = {
        "queue items": QueueItem.objects.filter(run=run).count(),
        "pauses": Pause.objects.filter(run=run).count(),
        "provider requests": GatewayRequest.objects.filter(run=run).count(),
    }
    assert left == {"queue items": 0, "pauses": 0, "provider requests": 0}
