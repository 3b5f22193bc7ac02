"""Start and finish timeouts: runs that waited too long to start, or ran too long, are cancelled.

Inngest enqueues an eager cancellation when a run is scheduled (start) and when it starts (finish), and when it
fires re-reads the function's current config (pkg/execution/executor/service.go `handleEagerCancelStartTimeout`,
`handleEagerCancelFinishTimeout`): a start timeout counts from when the run was queued and only cancels a run not
started yet; a finish timeout counts from the run's start. The dispatcher sweeps for both when the next one is due
(queries.sql `timers_next_due`, read by wakeup.py, computes it in SQL from the same config, through the partial
indexes on unfinished runs of migration 0014_timer_indexes), reading the current config, and cancels like
`DELETE /v1/runs/{id}` (`inngest/function.cancelled`), keeping the reason on the run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from . import gate_config, hooks
from .clock import scaled
from .models import Function, Run
from .services.endings import RunAlreadyFinished, RunNotFound, run_cancel

logger = logging.getLogger(__name__)


@hooks.tick(order=30)
def timeouts_enforce(*, now: datetime | None = None) -> int:
    """Cancel every run past its function's start or finish timeout; returns how many."""
    now = now or timezone.now()
    due: list[tuple[str, str]] = []
    for function in Function.objects.filter(config__has_key="timeouts", archived_at__isnull=True).only("config"):
        gates = gate_config.gates_of(function.config)
        if gates is None:
            continue
        runs = Run.objects.filter(function=function)
        if gates.start_timeout:
            queued_before = now - scaled(gates.start_timeout)
            late = runs.filter(status=Run.Status.QUEUED, started_at__isnull=True, created_at__lt=queued_before)
            reason = f"start timeout: not started within {_text(gates.start_timeout)}"
            due += [(run_id, reason) for run_id in late.values_list("run_id", flat=True)]
        if gates.finish_timeout:
            started_before = now - scaled(gates.finish_timeout)
            late = runs.filter(status__in=Run.UNFINISHED, started_at__lt=started_before)
            reason = f"finish timeout: not finished within {_text(gates.finish_timeout)} of its start"
            due += [(run_id, reason) for run_id in late.values_list("run_id", flat=True)]
    cancelled = 0
    for run_id, reason in due:
        try:
            run_cancel(run_id=run_id, reason=reason)
        except (RunAlreadyFinished, RunNotFound):
            continue  # it ended meanwhile
        logger.info("run cancelled by its timeout", extra={"run_id": run_id, "reason": reason})
        cancelled += 1
    return cancelled


def _text(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    return f"{seconds}s"
