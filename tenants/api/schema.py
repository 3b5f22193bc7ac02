"""What every API operation's schema shares: the agency header and the error answers it can give."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from .serializers import ErrorSerializer
from .tenancy import TENANT_HEADER

TENANT_PARAMETER = OpenApiParameter(
    TENANT_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The agency's slug, for users who belong to several agencies.",
)

ERROR_MEANINGS = {
    400: "The request is invalid: `extra.fields` names each bad field or parameter.",
    401: "No valid credentials (a `Token` or a session).",
    403: "The caller is not a member of the agency.",
    404: "Not found, or it belongs to another agency (indistinguishable on purpose).",
    409: "Conflicts with the current state (`extra` says with what).",
    413: "The body is larger than the API accepts.",
    415: "The body is not JSON.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Error answers in the one shape `{"message", "extra"}`: those every call can get, plus `codes`."""
    every_call = (400, 401, 403)
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[code])
        for code in sorted({*every_call, *codes})
    }


#: The errors of a call that sends a JSON body.
BODY_ERRORS = (413, 415)
