"""The tenants app's domain errors: four kinds, each class's docstring its default message (Procrastinate).

Services and selectors raise these, never a builtin: a `KeyError` or `LookupError` from a bug must not read as
"not found". Each boundary translates the kind once: the API in `tenants/api/errors.py` (404, 409, 403, 400), the
job steps in `jobs/steps.py` (a domain error is the same on every attempt: the run fails without retries).
Programming errors (an unknown keyword, a missing required id) stay `TypeError`/`ValueError`.
"""

from __future__ import annotations

from typing import Any


class TenantsError(Exception):
    """The request cannot be carried out."""

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.extra = extra  # details for the client, e.g. {"fields": {"email": [...]}}
        super().__init__(self.message)


class NotFound(TenantsError):
    """Not found."""


class Conflict(TenantsError):
    """The change conflicts with the current state."""


class Forbidden(TenantsError):
    """Not allowed for this user or agency."""


class Invalid(TenantsError):
    """The data given is not valid."""


# --- the concrete errors -----------------------------------------------------------------------------------


class ContactNotFound(NotFound):
    """No such contact in this agency."""  # another agency's contact is indistinguishable from a missing one


class AlertNotFound(NotFound):
    """No such alert in this agency."""


class ContactEmailTaken(Conflict):
    """Another contact of this agency already has this email address."""


class AlertAlreadyAcknowledged(Conflict):
    """The alert was already acknowledged with another outcome."""

    def __init__(self, alert: Any) -> None:
        self.alert = alert
        super().__init__(
            f"Already acknowledged with outcome {alert.outcome!r}.",
            outcome=alert.outcome,
            acknowledged_at=alert.acknowledged_at.isoformat(),
        )


class ContactOfAnotherTenant(Forbidden):
    """The contact belongs to another agency."""


class NotAMember(Forbidden):
    """Only a member of this agency may do this."""


class AgentNotInTenant(Invalid):
    """The assigned agent is not a member of this agency."""


class UnknownCategory(Invalid):
    """Not one of the twelve categories."""


class EngagementInvalid(Invalid):
    """An engagement event that cannot be stored as given (the message says which field and why)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[message])
