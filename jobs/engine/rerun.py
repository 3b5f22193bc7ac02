"""Rerunning a run: one new run of the same function with the same event(s), as Inngest's Rerun does.

`POST /api/v2/runs/<run_id>/rerun` (Inngest's REST API v2 `Rerun`, proto/api/v2/service.proto: `post:
"/runs/{run_id}/rerun"` under `/v2` on api.inngest.com and `/api/v2` on the dev server) answers
`{"data": {"runId": <new run>}}`. What a rerun passes and what it still obeys, option by option, following
inngest/inngest (`pkg/devserver/run_provider.go Rerun`, `pkg/coreapi/graph/resolvers/function_run.resolver.go
Rerun`, `pkg/execution/executor/executor.go idempotencyKey` and `schedule`):

- the event: the original one, same internal id (`NewBaseTrackedEventWithID`): no new event is stored, so no other
  function runs, no wait_for_event resumes and no cancel-on fires because of a rerun;
- only the run's function: Schedule is called for `fnrun.FunctionID` alone, not for every trigger of the event;
- idempotency: passed. A rerun's idempotency key is its own new run id (`idempotencyKey`: "If this is a rerun
  then we want to use the run ID as the key"), so the function's `idempotency` expression is not consulted;
- rate limit: passed (`PreventRateLimit: true`, "the user explicitly expects this to trigger");
- debounce: passed here. Inngest's Rerun leaves `PreventDebounce` unset, but its debounce item does not carry
  `OriginalRunID` (executor.go `schedule`, `debounce.DebounceItem`), so the debounced start would be keyed by the
  original event's id and skipped as already run; a rerun is one chosen event whose burst is over, so it starts;
- batching: passed. Batches are formed before Schedule (`AppendAndScheduleBatch`), and Rerun calls Schedule
  directly; where Inngest reruns with the first event only, the engine gives the new run the original run's
  whole batch, so the rerun does the same work;
- singleton: obeyed (`schedule` checks it for every request): with a run holding the key, mode skip starts no
  rerun (answered 409 with the reason) and mode cancel cancels the holder;
- concurrency, throttle, priority: obeyed. They are queue rules (`queue/enqueue.go`, the constraint API): the
  rerun waits for its key's slot, is throttled and ordered like any run;
- cancel-on: obeyed for events that arrive after the rerun starts (`createCancellationPauses` runs for it too);
- cron: Inngest Cloud refuses to rerun a cron-triggered run (`ErrCronRerunNotSupported`, HTTP 501); the engine
  reruns it with its timer event, which only makes the local engine more permissive.

Each call starts one run: Inngest de-duplicates nothing here (every rerun has a new run id as its key), so a
caller that must not start two (the admin's replay) keeps that promise itself (jobs/replay.py).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .auth import signing_key_required
from .gate_models import SkippedRun
from .models import Run
from .services.intake import runs_start, work_notify

logger = logging.getLogger(__name__)


class RerunRefused(Exception):
    """No run was started; `status` is the HTTP status that says why (404 unknown run, 409 refused)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def run_rerun(*, run_id: str) -> Run:
    """Start one new run of `run_id`'s function with its event(s); raises RerunRefused when none starts."""
    now = timezone.now()
    with transaction.atomic():
        original = Run.objects.select_related("function", "event").filter(run_id=run_id).first()
        if original is None:
            raise RerunRefused(f"no run with id {run_id!r}", status=404)
        function = original.function
        if function.archived_at is not None or function.config_error:
            reason = "it is no longer served by its app" if function.archived_at else function.config_error
            raise RerunRefused(f"function {function.slug} cannot be rerun: {reason}", status=409)
        if original.event is None:
            raise RerunRefused(f"run {run_id}: its event is no longer stored", status=409)
        start = (function, original.event, original.events) if len(original.events) > 1 else (function, original.event)
        started = runs_start([start], now=now, rerun=True)
        if started:
            work_notify()
        else:  # the skip stays recorded (Engine > Skipped runs): leave the transaction before refusing
            skip = SkippedRun.objects.filter(function=function, event=original.event).order_by("-id").first()
    if not started:
        why = f"{skip.get_reason_display()}: {skip.detail}" if skip else "its flow control started no run"
        raise RerunRefused(f"run {run_id} was not rerun: {why}", status=409)
    logger.info("run rerun", extra={"fn": function.slug, "original_run_id": run_id, "run_id": started[0].run_id})
    return started[0]


@csrf_exempt
@require_POST
@signing_key_required
def run_rerun_view(request: HttpRequest, run_id: str) -> JsonResponse:
    """`POST /api/v2/runs/<run_id>/rerun`: Inngest's REST API v2 Rerun (the body's `fromStep` is not supported)."""
    if request.body.strip() not in (b"", b"{}"):
        return JsonResponse({"error": "rerun takes no options here (fromStep is not supported)"}, status=400)
    try:
        run = run_rerun(run_id=run_id)
    except RerunRefused as error:
        return JsonResponse({"error": str(error)}, status=error.status)
    return JsonResponse({"data": {"runId": run.run_id}})
