"""Test-only functions for the run ledger's tests (test_ledger.py), declared like the app's (`job_function`).

One `contact/category.assigned` starts both: `story` fails a step through a RetryAfterError (a function-level error
that names no step), sleeps, fails another step with a plain error (a StepError, retried) and completes; `doomed`
fails its step with a NonRetriableError. `nap` sleeps long enough to be cancelled while it sleeps.
"""

from __future__ import annotations

from datetime import timedelta

import inngest

from jobs.client import inngest_client
from jobs.events import ContactCategoryAssigned
from jobs.functions.base import job_function
from jobs.policy import FunctionCategory

SERVE_PATH = "/api/ledger-test-inngest"


@job_function(fn_id="ops-ledger-story", event=ContactCategoryAssigned, category=FunctionCategory.CRM)
def story(ctx: inngest.ContextSync, event: ContactCategoryAssigned) -> dict[str, bool]:
    def flaky() -> str:
        if ctx.attempt == 0:
            raise inngest.RetryAfterError("CRM says: slow down", timedelta(seconds=1))
        return "pushed"

    def plain() -> str:
        if ctx.attempt == 0:
            raise ValueError("first time unlucky")
        return "noted"

    ctx.step.run("flaky", flaky)
    ctx.step.sleep("nap", timedelta(seconds=1))
    ctx.step.run("plain", plain)
    return {"done": True}


@job_function(fn_id="ops-ledger-doomed", event=ContactCategoryAssigned, category=FunctionCategory.CRM)
def doomed(ctx: inngest.ContextSync, event: ContactCategoryAssigned) -> None:
    def refuse() -> None:
        raise inngest.NonRetriableError("CrmAuthError: the token was revoked")

    ctx.step.run("doomed", refuse)


LEDGER_FUNCTIONS = [story, doomed]


@job_function(fn_id="ops-ledger-sleeper", event=ContactCategoryAssigned, category=FunctionCategory.CRM)
def sleeper(ctx: inngest.ContextSync, event: ContactCategoryAssigned) -> None:
    ctx.step.run("before", lambda: "awake")
    ctx.step.sleep("long-nap", timedelta(days=30))  # scaled by the tests' ENGINE_DELAY_SCALE: still 43 minutes


SLEEPER_PATH = "/api/ledger-test-sleeper"


def _noop() -> str:
    return "ok"


@inngest_client.create_function(fn_id="ledger-bench-three", trigger=inngest.TriggerEvent(event="bench/ledger.three"))
def bench_three(ctx: inngest.ContextSync) -> dict[str, int]:
    """bench/ledger_cost.py's function: three no-op steps on the project's client (its middleware, its ledger)."""
    for name in ("one", "two", "three"):
        ctx.step.run(name, _noop)
    return {"steps": 3}


BENCH_PATH = "/api/ledger-bench"


@inngest_client.create_function(
    fn_id="ledger-bench-tracker",
    trigger=inngest.TriggerEvent(
        event="inngest/function.finished", expression="event.data.function_id == 'nurturehub-ledger-bench-three'"
    ),
    retries=0,
)
def bench_tracker(ctx: inngest.ContextSync) -> None:
    """The alternative bench/ledger_cost.py weighs: a tracker function recording a run's end from Inngest's
    `inngest/function.finished` (one statement), instead of the middleware's statement per step request."""
    from django.utils import timezone

    from jobs.models import JobRun

    data = ctx.event.data
    status = JobRun.Status.FAILED if data.get("error") else JobRun.Status.COMPLETED
    JobRun.objects.filter(run_id=data.get("run_id")).update(status=status, finished_at=timezone.now())


TRACKED_BENCH_PATH = "/api/ledger-bench-tracked"
