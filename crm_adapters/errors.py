"""The one error hierarchy every CRM adapter speaks, so the job layer maps retry/no-retry without knowing the CRM.

Raised only by the `client.py` modules (house style rule 9), which translate each CRM's HTTP answers here.
Messages never contain secrets, request bodies or headers: only the provider, the status and the CRM's own
field messages. How the job layer should treat each class:

| class                 | meaning                                   | job layer                          |
|-----------------------|-------------------------------------------|------------------------------------|
| CrmRateLimited        | 429, or our own limiter is saturated      | retry after `retry_after` seconds  |
| CrmTransientError     | timeout, connection error, 5xx            | retry with backoff                 |
| CrmAuthError          | 401/403, bad or missing credentials       | no retry (connection set to error) |
| CrmValidationError    | 400/422 with the CRM's field messages     | no retry                           |
| CrmNotFound           | 404 on a record or an endpoint            | no retry                           |
| CrmConflict           | 409/412 the adapter could not resolve     | no retry                           |
| CrmConfigurationError | the connection's config cannot work       | no retry (connection set to error) |
"""

from __future__ import annotations


class CrmError(Exception):
    """A CRM call failed."""

    #: Whether retrying the same call later can succeed; the job layer may use it as a default.
    retryable: bool = False

    def __init__(self, message: str | None = None, *, provider: str = "", status: int | None = None) -> None:
        self.provider = provider
        self.status = status
        super().__init__(message or (self.__doc__ or "").strip())

    def as_dict(self) -> dict[str, object]:
        """A JSON-able description for logs, the sync log and step output (never holds a secret)."""
        return {"type": type(self).__name__, "message": str(self), "provider": self.provider, "status": self.status}


class CrmRateLimited(CrmError):
    """The CRM (or our own per-connection limiter) asks us to wait before calling again."""

    retryable = True

    def __init__(
        self, message: str | None = None, *, retry_after: float, provider: str = "", status: int | None = None
    ):
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(message, provider=provider, status=status)

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "retry_after": self.retry_after}


class CrmTransientError(CrmError):
    """The CRM could not be reached or failed on its side (timeout, connection error, 5xx); retrying may work."""

    retryable = True


class CrmAuthError(CrmError):
    """The CRM refused our credentials (401/403): they must be fixed before any retry can work."""


class CrmValidationError(CrmError):
    """The CRM rejected the data we sent (400/422); `field_errors` holds its messages per field."""

    def __init__(
        self,
        message: str | None = None,
        *,
        field_errors: list[dict[str, str]] | None = None,
        provider: str = "",
        status: int | None = None,
    ) -> None:
        self.field_errors = list(field_errors or [])
        if message is None and self.field_errors:
            details = "; ".join(f"{item.get('field') or '-'}: {item.get('message', '')}" for item in self.field_errors)
            message = f"The CRM rejected the data: {details}"
        super().__init__(message, provider=provider, status=status)

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "field_errors": self.field_errors}


class CrmNotFound(CrmError):
    """The record or endpoint does not exist in the CRM (404)."""


class CrmConflict(CrmError):
    """The CRM reported a conflict (409 duplicate, 412 stale eTag) that the adapter could not resolve."""

    def __init__(
        self,
        message: str | None = None,
        *,
        existing_id: str | None = None,
        provider: str = "",
        status: int | None = None,
    ) -> None:
        # On a duplicate, the id of the record that already exists (Alto's 409 `Location`), when known.
        self.existing_id = existing_id
        super().__init__(message, provider=provider, status=status)

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "existing_id": self.existing_id}


class CrmConfigurationError(CrmError):
    """The connection's settings cannot work (missing base URL, customer id, branch...); an operator must fix them."""
