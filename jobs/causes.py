"""The underlying cause of a step failure, kept through the policy's RetryAfterError/NonRetriableError translation.

Every failure leaves a step as one of Inngest's two wrappers, so their names say nothing an operator can act on.
The translation (jobs.steps.policy_step) therefore starts the wrapper's message with the cause's class name
(`CrmAuthError: ...`), which survives every road the error travels: the in-process request, the step memo the
server sends back (`StepError`), and the server's `inngest/function.failed` event. Run tracking reads it back
with `error_type_of`, so the admin's error-type filter separates an expired CRM token from a dead CRM host.
"""

from __future__ import annotations

import re

import httpx

WRAPPER_NAMES = frozenset({"RetryAfterError", "NonRetriableError", "StepError", "Error"})
_CAUSE_PREFIX = re.compile(r"^([A-Za-z_][\w.]*): ")
_OUR_PACKAGES = ("jobs", "tenants", "crm_adapters", "nurturehub")


def cause_name(error: BaseException) -> str:
    """`CrmAuthError`, `httpx.ConnectError`, `openai.InternalServerError`: what actually went wrong.

    A connection-level httpx error under a provider's own error (the CRM client raises CrmTransientError from it,
    the openai client APIConnectionError) is the more useful name: it says the host could not be reached.
    """
    inner = error.__cause__ or error.__context__
    while inner is not None:
        if isinstance(inner, httpx.TransportError):
            return _qualified(inner)
        inner = inner.__cause__ or inner.__context__
    return _qualified(error)


def _qualified(error: BaseException) -> str:
    cls = type(error)
    package = cls.__module__.split(".", 1)[0]
    if package in _OUR_PACKAGES or package == "builtins":
        return cls.__name__
    return f"{package}.{cls.__name__}"


def tag_with_cause(decision: BaseException, error: BaseException) -> BaseException:
    """Start the translated error's message with its cause's name (once); returns the same object."""
    name = cause_name(error)
    message = str(decision)
    if not message.startswith(f"{name}: ") and decision.args:
        decision.args = (f"{name}: {message}", *decision.args[1:])
    return decision


def error_type_of(name: str, message: str) -> str:
    """The error type to store: the wrapper's cause when the message names one, else the error's own name."""
    if name in WRAPPER_NAMES:
        found = _CAUSE_PREFIX.match(message.removeprefix(f"{name}: "))
        if found:
            return found.group(1)[:200]
    return name[:200]
