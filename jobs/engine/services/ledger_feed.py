"""What the host app's run ledger is told (hooks.ledger_record), built from the engine's own records.

Called inside the transaction that makes the change: a run's start (intake.py), each applied answer (answers.py),
a cancel (endings.py). The values are plain (hooks.LedgerChange); the spans an answer adds to the run's trace
(trace.py) say everything the ledger needs, so a step attempt is read off its span, never worked out twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import hooks
from ..models import Run, RunSpan
from ..outcomes import Outcome, Result
from ..trace import Span

if TYPE_CHECKING:
    from .progress import Answer

SpanStatus = RunSpan.Status

_STEP_OPS = frozenset({"StepRun", "StepError", "StepFailed"})
_OUTCOMES = {SpanStatus.COMPLETED: "completed", SpanStatus.RETRYING: "failed", SpanStatus.FAILED: "exhausted"}
_RUN_STATUS = {Result.COMPLETED: "completed", Result.FAILED: "failed", Result.RETRY: "retrying"}
FUNCTION_ERROR_OP = "FunctionError"
RETURN_OP = "RunComplete"


def _event_of(run: Run) -> dict[str, Any]:
    return (run.events or [{}])[0]


def runs_started(runs: Iterable[Run], *, now: datetime) -> None:
    """New runs (intake's runs_start), in one call: the ledger writes them in one statement."""
    if not hooks.ledger_listening():
        return
    hooks.ledger_record(
        [
            hooks.LedgerChange(
                run_id=run.run_id, function=run.function.slug, event=_event_of(run), at=now, started=True
            )
            for run in runs
        ]
    )


def run_cancelled(run: Run, *, now: datetime) -> None:
    if hooks.ledger_listening():
        change = hooks.LedgerChange(
            run_id=run.run_id, function=run.function.slug, event=_event_of(run), at=now, status="cancelled"
        )
        hooks.ledger_record([change])


def answer_applied(answer: Answer, outcome: Outcome, *, first_request: bool) -> None:
    """An applied answer: its step attempts (from its spans) and what it did to the run's status.

    A step that completes after failed attempts moves the run back from `retrying` to `running`; an answer that
    changes nothing the ledger shows (a planned step, a wait) is not reported.
    """
    if not hooks.ledger_listening() or outcome.result in (Result.STALE, Result.LEASE_LOST, Result.STALE_ANSWER):
        return
    run, item = answer.run, answer.item
    steps = tuple(step for span in answer.traced if (step := _step_of(span)) is not None)
    status = _RUN_STATUS.get(outcome.result, "running" if item.attempt > 0 else "")
    first_at = (answer.response.started_at or answer.now) if first_request else None
    if not steps and not status and first_at is None:
        return
    final = status in ("completed", "failed")
    change = hooks.LedgerChange(
        run_id=run.run_id,
        function=run.function.slug,
        event=_event_of(run),
        at=run.ended_at if final and run.ended_at else answer.now,
        status=status,
        output=run.output if status == "completed" else None,
        error=run.error if status == "failed" else None,
        first_request_at=first_at,
        steps=steps,
    )
    hooks.ledger_record([change])


def _step_of(span: Span) -> hooks.LedgerStep | None:
    """A span as a step attempt (as the SDK-side middleware records one), or None for what is no attempt (a
    planned step, a wait, an invoke: they carry no outcome yet; step.ai.infer is a planned step of its own)."""
    outcome = _OUTCOMES.get(span.status)
    if span.op in _STEP_OPS and outcome is not None:
        kind, step = "step", span.step_name
    elif span.op == "Sleep":
        kind, step, outcome = "sleep", span.step_name, "completed"
    elif span.op == FUNCTION_ERROR_OP and outcome is not None:
        kind, step = ("step", span.step_name) if span.step_name else ("function", "")
    elif span.op == RETURN_OP and span.status == SpanStatus.COMPLETED:
        kind, step = "function", ""
    else:
        return None
    return hooks.LedgerStep(
        step=step,
        kind=kind,
        attempt=span.attempt + 1,
        outcome=outcome,
        started_at=span.started_at,
        ended_at=span.ended_at,
        error=span.error,
        next_at=span.wake_at if span.op == "Sleep" else span.retry_at,
    )
