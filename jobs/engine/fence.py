"""The fence on step requests: a request runs its step only while the claim that built it still holds its item.

Inngest promises at-least-once per step; here the app and the engine share one PostgreSQL, so the serve endpoint
can refuse a stale request before the SDK runs anything. Every step request the dispatcher sends carries
`X-Engine-Fence: <item id>:<generation>:<claim token>` (the step is the URL's `stepId`). A request is stale once its
claim's lease is gone (run out, reaped, taken by another claim, or the item moved on or deleted) or the item stands
for another request (`generation`, one more each time an answer moves the item on): a request that waited in a
frozen dispatcher's socket or in the web server's queue past its lease, while another claim ran and stored the
step, would otherwise run the step body again (its memos lack the step).

The check is `fence_holds` in queries.sql, one primary-key read. The serve endpoint (jobs/serve.py) reaches it
through the app registry (`EngineConfig.fence_refusal`), never by importing the engine; without the header
(Inngest Cloud, a real `inngest-cli dev`) nothing is checked.

What it cannot close: a request that passed the check and then stalls before its step body starts (the web worker
itself frozen) for longer than the lease. That is the at-least-once of a step in flight, as on Inngest.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from .queries import statement

HEADER = "X-Engine-Fence"
#: The refusal's marker: the engine's answer handling reads a 409 with this header value as "refused, not run".
REFUSED = "refused"

_FENCE_HOLDS_SQL = statement("fence_holds")
# Fence checks opening a connection of their own at once, per web process (a check is one primary-key read).
_CHECKS_AT_ONCE = threading.BoundedSemaphore(8)


class Fence(NamedTuple):
    item_id: int
    generation: int
    token: str

    def header(self) -> str:
        return f"{self.item_id}:{self.generation}:{self.token}"


def fence_parse(value: str) -> Fence:
    """The fence a request carries; ValueError naming what is wrong with the header."""
    item_id, _, rest = value.partition(":")
    generation, _, token = rest.partition(":")
    if not (item_id.isdigit() and generation.isdigit() and token):
        raise ValueError(f"{HEADER} must be <item id>:<generation>:<claim token>, not {value[:200]!r}")
    return Fence(int(item_id), int(generation), token)


def fence_refusal(value: str, *, step_id: str) -> str | None:
    """Why a request fenced by header `value` for step `step_id` must not run (None: it may run)."""
    fence = fence_parse(value)
    if not step_id:
        raise ValueError(f"a request with {HEADER} needs the stepId query parameter")
    if connection.connection is not None or "pool" in connection.settings_dict["OPTIONS"]:
        # The request holds a connection already, or takes one from the pool (gunicorn): use it and keep it, since
        # run tracking queries on this request right after (giving it back here only to take it again cost a
        # pool round trip per step: bench/fence_cost.py).
        return _refusal(fence, step_id)
    # A step that never queries would otherwise hold this connection for its whole run, and hundreds of step
    # requests arriving at once would each open one: more than PostgreSQL's max_connections (100) without a pool
    # (runserver, the tests' live server). So a few checks at a time per process open one, and give it back
    # (to the pool under gunicorn) as jobs.steps.release_db_connection does.
    with _CHECKS_AT_ONCE:
        try:
            return _refusal(fence, step_id)
        finally:
            if not connection.in_atomic_block:
                connection.close()


def _refusal(fence: Fence, step_id: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(_FENCE_HOLDS_SQL, [fence.item_id, fence.token, fence.generation, step_id, timezone.now()])
        holds = cursor.fetchone() is not None
    if holds:
        return None
    return f"stale step request: queue item {fence.item_id} is no longer leased for this claim and step"
