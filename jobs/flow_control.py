"""The shared flow-control policy: what a function asks of Inngest's flow control, said in the domain's words and
spelled as Inngest options in one place, so every function declares cancel-on, idempotency, debounce, rate limit
and priority the same way (`job_function(..., flow=FlowControl(...))`).

Every key and every `if` is scoped by the tenant: a contact id or an assignment id never meets another agency's.
The expressions are CEL, as Inngest evaluates them (on Inngest Cloud and on the local engine alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import inngest
from django.conf import settings

from jobs.events import Event

#: One key per contact of one agency.
PER_CONTACT_KEY = 'event.data.tenantId + ":" + event.data.contactId'
#: Assignments an agent makes (the API, the admin, the demo's own): they run ahead of bulk work (imports, CRM).
INTERACTIVE_SOURCES = ("manual", "api", "admin")
#: Inngest's largest priority factor (consts.PriorityFactorMax): an interactive run is queued as if it had been
#: sent 600 s earlier, ahead of every bulk run of the last ten minutes, inside the same tenant's concurrency.
INTERACTIVE_HEAD_START_SECONDS = 600


class FlowControlError(TypeError):
    """A function asked for flow control its event cannot key (a missing payload field): a bug at import."""


@dataclass(frozen=True)
class CancelOnNewer:
    """Cancel a run when a newer `event` arrives for the same tenant and contact; `newer_field` (wire name, an
    increasing id both events carry) says which is newer, so a replayed older event never cancels newer work."""

    event: type[Event]
    newer_field: str


@dataclass(frozen=True)
class Debounce:
    """Run once per burst, on its latest event: `period` after the last event, at most `timeout` after the first."""

    period: timedelta
    timeout: timedelta


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` runs start per `period`; events beyond it are skipped (Inngest never queues them)."""

    limit: int
    period: timedelta


@dataclass(frozen=True)
class FlowControl:
    cancel_on_newer: CancelOnNewer | None = None
    #: A payload field (wire name): one run per value per tenant, for Inngest's idempotency window (24 h).
    idempotent_per: str | None = None
    debounce_per_contact: Debounce | None = None
    rate_limit_per_contact: RateLimit | None = None
    #: Priority from the event's `source`: interactive work ahead of bulk work.
    interactive_first: bool = False


def score_debounce() -> Debounce | None:
    """Engagement arrives in bursts (an open, then clicks): score a contact once per burst, on its latest state.

    A period of 0 turns it off (every engagement scored on its own: the benchmark's baseline)."""
    if float(settings.JOBS_SCORE_DEBOUNCE_SECONDS) <= 0:
        return None
    return Debounce(
        period=timedelta(seconds=float(settings.JOBS_SCORE_DEBOUNCE_SECONDS)),
        timeout=timedelta(seconds=float(settings.JOBS_SCORE_DEBOUNCE_TIMEOUT_SECONDS)),
    )


def alert_rate_limit() -> RateLimit:
    """A backstop behind the agency's cooldown: however many fire events a contact gets, few alert runs start."""
    return RateLimit(
        limit=int(settings.JOBS_ALERT_RATE_LIMIT),
        period=timedelta(minutes=float(settings.JOBS_ALERT_RATE_LIMIT_MINUTES)),
    )


def _require(event: type[Event], *fields: str) -> None:
    wire = {info.alias or name for name, info in event.model_fields.items()}
    missing = [field for field in fields if field not in wire]
    if missing:
        raise FlowControlError(
            f"{event.__name__} has no {', '.join(missing)}: flow control cannot be keyed on what its event lacks"
        )


def _seconds(value: timedelta) -> int:
    """Inngest's periods are whole seconds (the SDK sends them as duration strings)."""
    seconds = round(value.total_seconds())
    if seconds < 1:
        raise FlowControlError(f"a flow-control period must be at least 1 s, got {value}")
    return seconds


def flow_options(flow: FlowControl | None, event: type[Event]) -> dict[str, Any]:
    """The keyword arguments of `create_function` for `flow` on functions triggered by `event`."""
    if flow is None:
        return {}
    options: dict[str, Any] = {}
    if flow.cancel_on_newer is not None:
        newer = flow.cancel_on_newer
        _require(event, "tenantId", "contactId", newer.newer_field)
        _require(newer.event, "tenantId", "contactId", newer.newer_field)
        # `event` is the run's trigger, `async` the incoming event (Inngest's cancellation pause expression).
        condition = (
            "event.data.tenantId == async.data.tenantId && event.data.contactId == async.data.contactId"
            f" && async.data.{newer.newer_field} > event.data.{newer.newer_field}"
        )
        options["cancel"] = [inngest.Cancel(event=newer.event.name, if_exp=condition)]
    if flow.idempotent_per is not None:
        _require(event, "tenantId", flow.idempotent_per)
        options["idempotency"] = f'event.data.tenantId + ":" + string(event.data.{flow.idempotent_per})'
    if flow.debounce_per_contact is not None:
        _require(event, "tenantId", "contactId")
        debounce = flow.debounce_per_contact
        options["debounce"] = inngest.Debounce(
            key=PER_CONTACT_KEY,
            period=timedelta(seconds=_seconds(debounce.period)),
            timeout=timedelta(seconds=_seconds(debounce.timeout)),
        )
    if flow.rate_limit_per_contact is not None:
        _require(event, "tenantId", "contactId")
        limit = flow.rate_limit_per_contact
        options["rate_limit"] = inngest.RateLimit(
            key=PER_CONTACT_KEY, limit=limit.limit, period=timedelta(seconds=_seconds(limit.period))
        )
    if flow.interactive_first:
        _require(event, "source")
        interactive = ", ".join(f'"{source}"' for source in INTERACTIVE_SOURCES)
        options["priority"] = inngest.Priority(
            run=f"event.data.source in [{interactive}] ? {INTERACTIVE_HEAD_START_SECONDS} : 0"
        )
    return options
