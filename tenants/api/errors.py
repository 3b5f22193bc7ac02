"""Every API error in one shape, `{"message": ..., "extra": {...}}`, with the status that fits it.

Application errors raised by services are translated here (the boundary), so views stay thin.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from tenants.errors import Conflict, Forbidden, Invalid, NotFound, TenantsError

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An application error with a status, a message and details for the client."""

    def __init__(self, message: str, *, status_code: int = 400, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.extra = extra or {}


# The tenants app's error kinds and their statuses, in one place. Not found is the bare 404 (no message: another
# agency's id must read exactly like a missing one); the others carry the error's message and details.
DOMAIN_STATUS = (
    (Conflict, status.HTTP_409_CONFLICT),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (Invalid, status.HTTP_400_BAD_REQUEST),
)


def _translate(error: Exception) -> Exception:
    if isinstance(error, NotFound | Http404):
        return exceptions.NotFound()  # (a bare LookupError/KeyError is a bug: it stays a 500)
    if isinstance(error, TenantsError):
        code = next((code for kind, code in DOMAIN_STATUS if isinstance(error, kind)), status.HTTP_400_BAD_REQUEST)
        return ApiError(error.message, status_code=code, extra=error.extra)
    if isinstance(error, DjangoValidationError):
        if hasattr(error, "message_dict"):
            return ApiError("Validation error", extra={"fields": error.message_dict})
        return ApiError("; ".join(error.messages), extra={"errors": error.messages})
    if isinstance(error, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return error


def exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    error = _translate(error)
    response = drf_exception_handler(error, context)
    if response is None:
        # An unexpected error: logged with its traceback here, and the client gets the same shape, no internals.
        logger.exception("API error", extra={"view": type(context.get("view")).__name__})
        set_rollback()
        return Response({"message": "Internal server error.", "extra": {}}, status=500)
    if isinstance(error, ApiError):
        response.data = {"message": str(error.detail), "extra": error.extra}
    elif isinstance(error, exceptions.ValidationError):
        response.data = {"message": "Validation error", "extra": {"fields": error.detail}}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = {"message": str(detail), "extra": {}}
    return response
