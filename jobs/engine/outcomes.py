"""The value types every layer above speaks: what came back from a serve endpoint, and what handling an item did.

Below the store: no model, no SQL. The answer state machine (services/answers.py), the features that answer items
themselves (ai_gateway.py, pause_resume.py) and the runtime (step_call.py, dispatcher.py) all read and produce
these, so none of them has to import another to agree on them. Inngest keeps the same split: its driver response
and opcode types live in pkg/execution/state, below the executor that switches over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass
class CallResponse:
    """What came back from the serve endpoint (status None: the request itself failed)."""

    status: int | None
    from_sdk: bool = False
    no_retry: bool = False
    retry_after: str | None = None
    body: Any = None
    transport_error: str = ""
    request_version: int | None = None  # the SDK's `x-inngest-req-version` header
    started_at: datetime | None = None  # when the request was sent (the span's start)
    fenced: bool = False  # the serve endpoint refused the request as stale (fence.py): nothing ran
    step: str = ""  # STEP_HEADER: the step that was executing when the function's error was raised


#: The engine's own response header (like the fence's, not Inngest's): the serve endpoint names the step that was
#: executing when a function-level error was raised. The Python SDK turns a NonRetriableError or RetryAfterError
#: raised inside `step.run` into the function's error (inngest 0.5.19 step_lib/step_sync.py), which names no
#: step; the host's middleware knows it, and the trace and the run ledger show the failed attempt under it.
STEP_HEADER = "X-Engine-Step"


class Result(StrEnum):
    """What handling a claimed item did; the values are what the dispatch log line and DispatchRecord carry."""

    COMPLETED = "completed"  # the run completed
    FAILED = "failed"  # the run failed (or was refused)
    STEP = "step"  # a step's memo was stored; the run goes on
    PLANNED = "planned"  # steps were planned (parallel steps, step.ai.infer)
    SLEEP = "sleep"  # the run sleeps until its next discovery
    WAITING = "waiting"  # the run waits on an event or an invoked run (pauses.py)
    RETRY = "retry"  # the attempt failed and will be retried
    NOOP = "noop"  # an answer that changed nothing but the item
    STALE = "stale"  # the run had ended (or its pause was gone): the item was dropped
    TIMEOUT = "timeout"  # a wait's or invoke's timeout ended it (pause_resume.py)
    LEASE_LOST = "lease-lost"  # the claim's lease was lost: nothing was sent or stored
    FENCED = "fenced"  # the serve endpoint refused the request as stale (fence.py): nothing ran or was stored
    STALE_ANSWER = "stale-answer"  # an answer for an older request of the item (its generation): not applied


@dataclass
class Outcome:
    result: Result
    step: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def error_body(name: str, message: str) -> dict[str, Any]:
    """An error the engine itself reports (the SDK's own error bodies are kept as sent)."""
    return {"name": name, "message": message}


def transport_error(error: Exception, http: Any) -> str:
    """What went wrong with a request that got no answer (`http`: the aiohttp session); aiohttp's timeout carries
    no message of its own."""
    if isinstance(error, TimeoutError) and not str(error):
        return f"TimeoutError: no answer within {http.timeout.total:g} s"
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class DispatchRecord:
    """One dispatch as logged: also handed to `on_dispatch` (benchmarks and tests read it)."""

    run_id: str
    function: str
    step: str
    attempt: int
    http_status: int | None
    outcome: Result  # a StrEnum: compares and logs as its string value
    duration_ms: float
    request_ms: float
    function_ms: float | None  # the function's own time, as the SDK reports it (whole ms)
    handler_ms: float | None  # the SDK's whole handling of the request, the function included (whole ms)
    dispatcher: str
