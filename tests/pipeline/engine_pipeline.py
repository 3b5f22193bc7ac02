"""The pipeline's functions run by the local engine, one event at a time, for tests that look at one run closely.

Not an executor: events go to the engine's real intake (`POST /e/<key>` on the live server), the engine runs them
through the real serve endpoint (retries, retry-after, the `-failure` handler: all the engine's, as on Inngest),
and a finished run is read back from the engine's own records, its run row and its trace. What the functions emit
goes to the fake event API (`event_api`), so a test decides which follow-on events the engine is sent (`drain`).

Retry delays are really waited, compressed by ENGINE_DELAY_SCALE; the delay a failure asked for is read from its
trace span (`retry_at - ended_at`, both the engine's same clock reading) and scaled back, so the policy's real
delays (AI: 10 s doubling) are still checked as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone
from ulid import ULID

from jobs.engine.gate_models import GcraKey, SkippedRun
from jobs.engine.models import Event, Function, Run, RunSpan, Trigger
from jobs.events import Event as CatalogueEvent
from tests.waiting import wait_for

ENDED = (Run.Status.COMPLETED, Run.Status.FAILED, Run.Status.CANCELLED)
#: Generous: only a test that would otherwise hang ends on it (a slow machine keeps working within it).
RUN_TIMEOUT = 120


@dataclass
class Failure:
    """One failed attempt, from its trace span."""

    attempt: int
    error: Any
    final: bool  # the run failed on it
    no_retry: bool  # final while attempts were left: the function said not to retry (or a 4xx)
    retry_after_seconds: float | None  # the delay asked for, before ENGINE_DELAY_SCALE


@dataclass
class EngineRun:
    """A finished engine run: status, output (the error body if it failed), steps in completion order, failures."""

    function_id: str  # the app's id and the function's, as Inngest names it
    run_id: str
    status: str
    output: Any
    steps: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    failure_run: EngineRun | None = None


def wire_event(event: CatalogueEvent, event_id: str | None = None) -> dict[str, Any]:
    """A catalogue event as sent to Inngest (a fresh ULID for its id unless given)."""
    return {"name": event.name, "data": event.to_wire(), "id": event_id or str(ULID()), "user": {}}


def _unscaled_delay(span: RunSpan) -> float | None:
    if span.retry_at is None:
        return None
    return (span.retry_at - span.ended_at).total_seconds() / float(settings.ENGINE_DELAY_SCALE)


def _failure_run(run: Run) -> Run | None:
    return Run.objects.filter(function__slug=f"{run.function.slug}-failure", events__0__data__run_id=run.run_id).first()


def read_run(run: Run) -> EngineRun:
    """The engine's record of an ended run (and of its failure handler's run, if it ran)."""
    spans = list(RunSpan.objects.filter(run=run).order_by("started_at", "id"))
    max_attempts = run.function.max_attempts
    failures = [
        Failure(
            attempt=span.attempt,
            error=span.error,
            final=span.status == RunSpan.Status.FAILED,
            no_retry=span.status == RunSpan.Status.FAILED and span.attempt + 1 < max_attempts,
            retry_after_seconds=_unscaled_delay(span),
        )
        for span in spans
        if span.status in (RunSpan.Status.RETRYING, RunSpan.Status.FAILED)
    ]
    handler = _failure_run(run) if run.status == Run.Status.FAILED else None
    return EngineRun(
        function_id=run.function.slug,
        run_id=run.run_id,
        status=run.status,
        output=run.output if run.status == Run.Status.COMPLETED else run.error,
        steps=[span.step_name for span in spans if span.op == "StepRun" and span.status == RunSpan.Status.COMPLETED],
        failures=failures,
        failure_run=None if handler is None else read_run(handler),
    )


def _ended(run: Run) -> bool:
    """Ended, and so has its failure handler's run (the engine starts it as it fails the run) if it has one."""
    run.refresh_from_db()
    if run.status not in ENDED:
        return False
    if run.status != Run.Status.FAILED or not Function.objects.filter(slug=f"{run.function.slug}-failure").exists():
        return True
    handler = _failure_run(run)
    return handler is not None and handler.status in ENDED


class EnginePipeline:
    """Sends events to the running local engine and reads back the runs they started, once they have ended."""

    def __init__(self, base_url: str, event_api: Any | None = None) -> None:
        self.base_url = base_url
        self.event_api = event_api
        self._forwarded = 0

    def send(self, event: dict[str, Any]) -> list[EngineRun]:
        """Send one event through the engine's intake; the runs it started, once ended ([] if flow control or
        the event-id de-duplication started none)."""
        return self.send_later(event)()

    def send_later(self, event: dict[str, Any]) -> Callable[[], list[EngineRun]]:
        """Send one event through the engine's intake now; call the answer to wait for its runs (as `send`)."""
        response = httpx.post(f"{self.base_url}/e/test-key", json=[event], timeout=30)
        assert response.status_code == 200, response.text
        (internal_id,) = response.json()["ids"]
        return lambda: self._runs_of(internal_id)

    def run(self, function_id: str, event: dict[str, Any]) -> EngineRun:
        """The one run of `function_id` the event started (each event name triggers one function)."""
        (run,) = self.send(event)
        assert run.function_id == f"{settings.INNGEST_APP_ID}-{function_id}", (run.function_id, function_id)
        return run

    def rerun(self, run: EngineRun) -> EngineRun:
        """A new run of the same function on the same event, as an operator's replay asks (`POST .../rerun`)."""
        response = httpx.post(f"{self.base_url}/api/v2/runs/{run.run_id}/rerun", timeout=30)
        assert response.status_code == 200, response.text
        return self.ended(response.json()["data"]["runId"])

    def ended(self, run_id: str) -> EngineRun:
        """The engine's run `run_id` (a rerun an operator asked for, say), once ended."""
        run = Run.objects.get(run_id=run_id)
        wait_for(lambda: _ended(run), timeout=RUN_TIMEOUT, message=f"run {run_id} to end")
        return read_run(run)

    def runs_of_sent(self, event_id: str) -> list[EngineRun]:
        """The runs started by an event the app sent the engine itself (`emit`, by the id it was sent with)."""
        (event,) = Event.objects.filter(external_id=event_id, duplicate=False)
        return self._runs_of(event.internal_id)

    def fire_cron(self, function_id: str) -> EngineRun:
        """Make the function's cron trigger due now; its run, once ended."""
        slug = f"{settings.INNGEST_APP_ID}-{function_id}"
        before = set(Run.objects.filter(function__slug=slug).values_list("pk", flat=True))
        Trigger.objects.filter(function__slug=slug).exclude(cron="").update(next_fire_at=timezone.now())
        wait_for(
            lambda: Run.objects.filter(function__slug=slug).exclude(pk__in=before).exists(),
            timeout=RUN_TIMEOUT,
            message=f"the cron run of {function_id}",
        )
        run = Run.objects.filter(function__slug=slug).exclude(pk__in=before).get()
        wait_for(lambda: _ended(run), timeout=RUN_TIMEOUT, message=f"{function_id} run to end")
        return read_run(run)

    def forget_rate_limits(self) -> None:
        """As if every rate-limit window had passed: for a test of what the function itself does on an event
        the engine's rate limit (a backstop, e.g. in front of the alert cooldown) would otherwise skip."""
        GcraKey.objects.all().delete()

    def dispatch(self, event: dict[str, Any]) -> list[EngineRun]:
        """An event the functions emitted (the fake event API received it), sent on to the engine now."""
        return self.send({key: event[key] for key in ("name", "data", "id", "user") if key in event})

    def drain(self, *, only: set[str] | None = None, limit: int = 100) -> list[EngineRun]:
        """Send the engine every event the fake event API received, one at a time, each once its runs have
        ended, until none is left. `only`: the event names to send on; others stay where they were received."""
        assert self.event_api is not None, "drain needs the fake event API"
        runs: list[EngineRun] = []
        for _ in range(limit):
            pending = self.event_api.received[self._forwarded :]
            if not pending:
                return runs
            self._forwarded += len(pending)
            for event in pending:
                if only is None or event["name"] in only:
                    runs.extend(self.dispatch(event))
        raise AssertionError("events kept coming")

    def _runs_of(self, internal_id: str) -> list[EngineRun]:
        def settled() -> bool:
            event = Event.objects.get(internal_id=internal_id)
            if event.duplicate or SkippedRun.objects.filter(event=event).exists():
                return True
            runs = list(Run.objects.filter(event=event))
            return bool(runs) and all(_ended(run) for run in runs)

        wait_for(settled, timeout=RUN_TIMEOUT, message=f"the runs of event {internal_id} to end")
        return [read_run(run) for run in Run.objects.filter(event__internal_id=internal_id).order_by("id")]
