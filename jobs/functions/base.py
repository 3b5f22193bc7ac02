"""`job_function`: how every NurtureHub function is declared, so none drifts from the shared contract.

It triggers on one catalogue event, applies its category's retries and per-tenant concurrency and the flow control
it asks for (`flow`: cancel-on, idempotency, debounce, rate limit, priority; jobs/flow_control.py), records the run's
final failure (the default `on_failure` recorder), honours the tenant's "pause new work" switch, and calls the
handler with the validated, typed payload (a payload that fails validation cannot succeed on retry: no retry).

Pausing: while `Tenant.jobs_paused` is set, a run does no work and waits in durable sleeps
(`tenant-paused-<n>`, `JOBS_PAUSE_RECHECK_SECONDS` each) and re-checks the switch after each. A sleep holds no
concurrency slot and uses no retry attempt, on Inngest Cloud as on the local engine; the check runs before every
request, so a run paused between steps stops before its next step. After `JOBS_PAUSE_MAX_WAITS` sleeps the run
fails (non-retriable, error type TenantPaused) so that it does not sleep forever; operators replay it from the admin.
The check reads each process's cached set of paused agencies, which a change invalidates (tenants/pause_flags.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

import inngest
from django.conf import settings
from pydantic import ValidationError

from jobs.client import inngest_client
from jobs.events import Event, EventVersionError, EventVersionTooNew
from jobs.flow_control import FlowControl, flow_options
from jobs.policy import FunctionCategory, function_options
from jobs.tracking import record_failure
from tenants.pause_flags import tenant_jobs_paused

E = TypeVar("E", bound=Event)

Handler = Callable[[inngest.ContextSync, E], Any]
FailureHandler = Callable[[inngest.ContextSync], Any]

PAUSE_STEP_PREFIX = "tenant-paused-"


class TenantPaused(inngest.NonRetriableError):
    """The tenant's background work stayed paused longer than the run may wait; replay it once resumed."""


def wait_while_tenant_paused(ctx: inngest.ContextSync, tenant_id: UUID | str) -> int:
    """Sleep durably while the tenant is paused; returns how many sleeps this run has taken."""
    recheck = timedelta(seconds=float(settings.JOBS_PAUSE_RECHECK_SECONDS))
    max_waits = int(settings.JOBS_PAUSE_MAX_WAITS)
    waits = 0
    while tenant_jobs_paused(tenant_id):
        if waits >= max_waits:
            raise TenantPaused(f"tenant {tenant_id} paused for more than {max_waits} checks; replay when resumed")
        ctx.step.sleep(f"{PAUSE_STEP_PREFIX}{waits}", recheck)  # returns at once when already slept (memoized)
        waits += 1
    return waits


def with_failure_recorder(on_failure: FailureHandler | None) -> FailureHandler:
    """Every function records its final failure first, then runs its own on_failure handler if it has one."""

    def handle_failure(ctx: inngest.ContextSync) -> Any:
        recorded = record_failure(ctx)
        return on_failure(ctx) if on_failure is not None else recorded

    handle_failure.__name__ = handle_failure.__qualname__ = getattr(on_failure, "__name__", "record_failure")
    return handle_failure


def job_function(
    *,
    fn_id: str,
    event: type[E],
    category: FunctionCategory,
    on_failure: FailureHandler | None = None,
    flow: FlowControl | None = None,
    **extra: Any,
) -> Callable[[Handler[E]], inngest.Function[Any]]:
    def decorator(handler: Handler[E]) -> inngest.Function[Any]:
        def run(ctx: inngest.ContextSync) -> Any:
            try:
                payload = event.from_inngest(ctx.event)
            except EventVersionTooNew:
                raise  # retried: newer code may be deployed by then
            except (ValidationError, EventVersionError) as error:
                raise inngest.NonRetriableError(f"invalid {event.name} payload: {error}") from error
            wait_while_tenant_paused(ctx, payload.tenant_id)
            return handler(ctx, payload)

        run.__name__ = run.__qualname__ = handler.__name__
        run.__doc__ = handler.__doc__
        return inngest_client.create_function(
            fn_id=fn_id,
            name=fn_id,
            trigger=inngest.TriggerEvent(event=event.name),
            on_failure=with_failure_recorder(on_failure),
            **function_options(category),
            **flow_options(flow, event),
            **extra,
        )(run)

    return decorator
