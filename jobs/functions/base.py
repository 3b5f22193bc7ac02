"""`job_function`: how every NurtureHub function is declared, so none drifts from the shared contract.

It triggers on one catalogue event, applies its category's retries and per-tenant concurrency, and calls the
handler with the validated, typed payload (a payload that fails validation cannot succeed on retry: no retry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import inngest
from pydantic import ValidationError

from jobs.client import inngest_client
from jobs.events import Event
from jobs.policy import FunctionCategory, function_options

E = TypeVar("E", bound=Event)

Handler = Callable[[inngest.ContextSync, E], Any]
FailureHandler = Callable[[inngest.ContextSync], Any]


def job_function(
    *,
    fn_id: str,
    event: type[E],
    category: FunctionCategory,
    on_failure: FailureHandler | None = None,
    **extra: Any,
) -> Callable[[Handler[E]], inngest.Function[Any]]:
    def decorator(handler: Handler[E]) -> inngest.Function[Any]:
        def run(ctx: inngest.ContextSync) -> Any:
            try:
                payload = event.from_inngest(ctx.event)
            except ValidationError as error:
                raise inngest.NonRetriableError(f"invalid {event.name} payload: {error}") from error
            return handler(ctx, payload)

        run.__name__ = run.__qualname__ = handler.__name__
        run.__doc__ = handler.__doc__
        return inngest_client.create_function(
            fn_id=fn_id,
            name=fn_id,
            trigger=inngest.TriggerEvent(event=event.name),
            on_failure=on_failure,
            **function_options(category),
            **extra,
        )(run)

    return decorator
