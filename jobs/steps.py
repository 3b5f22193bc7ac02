"""Shared step utilities: what every function does the same way, in one place.

Each helper wraps one call in `ctx.step.run` with a stable kebab-case id and returns JSON-able data.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

import inngest
from django.db import connection

from crm_adapters.models import CrmConnection
from nurturehub.redaction import redact
from tenants.errors import TenantsError
from tenants.models import Tenant

from .causes import tag_with_cause
from .emit import emit
from .events import Event
from .observability import step_log_context
from .policy import FunctionCategory, PermanentJobError, TransientJobError, retry_decision

logger = logging.getLogger(__name__)

T = TypeVar("T")


def tenant_context(tenant_id: UUID | str) -> dict[str, Any]:
    """Agency settings, brand voice and CRM provider of a tenant, in one query, as JSON-able data."""
    try:
        tenant = Tenant.objects.select_related("crm_connection").get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise inngest.NonRetriableError(f"tenant {tenant_id} does not exist") from None
    connection = getattr(tenant, "crm_connection", None)
    return {
        "tenant_id": str(tenant.id),
        "name": tenant.name,
        "slug": tenant.slug,
        "timezone": tenant.timezone,
        "brand_voice": {
            "text": tenant.brand_voice,
            "tone": tenant.brand_tone,
            "vocabulary": list(tenant.brand_vocabulary or []),
            "sign_off": tenant.brand_sign_off,
        },
        "thresholds": {"warm": tenant.warm_threshold, "hot": tenant.hot_threshold},
        "alert_cooldown_hours": tenant.alert_cooldown_hours,
        "category_multipliers": dict(tenant.category_multipliers or {}),
        "email_delays_days": list(tenant.email_delays_days),
        "crm": {"provider": connection.provider, "status": connection.status} if connection else None,
        "jobs_paused": tenant.jobs_paused,
    }


def step_tenant_context(ctx: inngest.ContextSync, tenant_id: UUID | str) -> dict[str, Any]:
    def resolve() -> dict[str, Any]:
        with step_log_context("resolve-tenant-context"):
            return tenant_context(tenant_id)

    return ctx.step.run("resolve-tenant-context", resolve)


def follow_on_event_id(ctx: inngest.ContextSync, step_id: str) -> str:
    """A stable id for an event emitted by a step: a retried step re-emits the same id, never a second event."""
    # Shaped as a UUID, like every other event id (jobs.emit.new_event_id), so one search finds them all.
    return str(UUID(hex=hashlib.sha256(f"{ctx.run_id}/{step_id}".encode()).hexdigest()[:32]))


def step_emit(
    ctx: inngest.ContextSync,
    step_id: str,
    event_cls: type[Event],
    data: Mapping[str, Any],
    *,
    category: FunctionCategory,
) -> str:
    """Emit a validated follow-on event inside a memoized step; returns its event id.

    If Inngest does not accept it, the step fails and is retried on the category's doubling backoff: the retry
    finds the pending EventLog row by its stable id and sends that, so the event is neither lost nor doubled. If
    the event API refused the event itself (set aside as rejected: jobs/emit.py), no retry can change that: the run
    fails at once with the API's answer.
    """

    def send() -> str:
        row = emit(event_cls, data, event_id=follow_on_event_id(ctx, step_id), source=f"run:{ctx.run_id}")
        if row.status == row.Status.REJECTED:
            raise PermanentJobError(f"{event_cls.name} {row.last_error}")
        if row.status != row.Status.SENT:
            raise TransientJobError(f"{event_cls.name} not accepted by Inngest: {row.last_error}")
        return row.event_id

    return policy_step(ctx, step_id, category, send)


def policy_step(
    ctx: inngest.ContextSync,
    step_id: str,
    category: FunctionCategory,
    handler: Callable[..., T],
    *args: Any,
) -> T:
    """`ctx.step.run` under the shared policy: every failure leaves as RetryAfterError or NonRetriableError.

    The step id is bound to the log context, so every line the handler logs names its step, and a failure is
    logged once, with the decision taken, before Inngest sees it.
    """

    def guarded(*handler_args: Any) -> T:
        with step_log_context(step_id):
            try:
                return handler(*handler_args)
            except Exception as error:
                decision = retry_decision(category, attempt=ctx.attempt, error=as_job_error(error))
                logger.warning(
                    "step failed",
                    extra={
                        "error": redact(f"{type(error).__name__}: {error}", limit=500),
                        "decision": type(decision).__name__,
                    },
                )
                if decision is error:
                    raise
                raise tag_with_cause(decision, error) from error

    return ctx.step.run(step_id, guarded, *args)


def release_db_connection() -> None:
    """Give this thread's database connection back before the step waits seconds on a provider (AI, a CRM).

    Django keeps a request's connection until the request ends, so every step request waiting 5-20 s on an AI
    provider would hold one: 100 calls in flight would need 100 connections (PostgreSQL's default
    `max_connections`), and a pool (`DATABASE_POOL`) would starve the requests that need it for a moment. Closing
    returns it to the pool, or closes it; the next query takes one again. Inside a transaction it stays (closing
    would lose the transaction).
    """
    if not connection.in_atomic_block:
        connection.close()


def as_job_error(error: Exception) -> Exception:
    """The step boundary's translation of the tenants app's errors: a missing contact, a conflict or invalid data
    is the same on every attempt, so the run fails at once (PermanentJobError); any other error is unchanged."""
    if isinstance(error, TenantsError):
        permanent = PermanentJobError(f"{type(error).__name__}: {error}")
        permanent.__cause__ = error
        return permanent
    return error


def tenant_for_step(tenant_id: UUID | str) -> Tenant:
    """The tenant a step works for; a tenant that no longer exists fails the run without retries.

    `get`, not `filter().first()`: first() orders by the model's `name`, a sort PostgreSQL does for one row and
    an ORDER BY Django compiles on every call (about a seventh of this read's client CPU).
    """
    try:
        return Tenant.objects.get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise PermanentJobError(f"tenant {tenant_id} does not exist") from None


def crm_connection_for(tenant: Tenant) -> CrmConnection | None:
    """The CRM client factory's input: the tenant's one connection (None when it has none or it is disconnected).

    Steps pass it to `crm_adapters.services`, which builds the provider's adapter (`crm_adapters.factory`).
    """
    connection = CrmConnection.objects.filter(tenant=tenant).first()
    if connection is None or connection.status == CrmConnection.Status.DISCONNECTED:
        return None
    return connection
