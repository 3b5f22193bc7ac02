"""Test-only functions that hold their step: at a barrier until enough steps are inside, or until a test opens a gate.

A barrier opens only when its number of steps are inside it at once, so a test using one fails (the barrier breaks
after a generous guard and the step fails) when the engine cannot hold that many requests in flight, whatever the
machine's speed. Each test sets `GATES` before it sends events.
"""

from __future__ import annotations

import threading

import inngest

from .functions import RECORDER, client

GATES: dict[str, threading.Barrier] = {}
HOLDS: dict[str, threading.Event] = {}
GUARD_SECONDS = 120  # only a failure guard: a barrier that has not opened by then never will


def _inside(ctx: inngest.ContextSync, key: str) -> None:
    RECORDER.enter(key)
    try:
        RECORDER.record(ctx, "inside", tenant=key)
        GATES[key].wait(timeout=GUARD_SECONDS)
    finally:
        RECORDER.leave(key)


@client.create_function(fn_id="gathered", trigger=inngest.TriggerEvent(event="test/gathered"), retries=0)
def gathered(ctx: inngest.ContextSync) -> None:
    """Every run's step waits at the one barrier `GATES["all"]`."""
    ctx.step.run("inside", lambda: _inside(ctx, "all"))


@client.create_function(
    fn_id="keyed",
    trigger=inngest.TriggerEvent(event="test/keyed"),
    concurrency=[inngest.Concurrency(key="event.data.tenantId", limit=5)],
    retries=0,
)
def keyed(ctx: inngest.ContextSync) -> None:
    """Limit 5 per tenant; each step waits at its tenant's barrier (5 parties), so 5 of a tenant pass together."""
    tenant = ctx.event.data["tenantId"]
    ctx.step.run("inside", lambda: _inside(ctx, tenant))


@client.create_function(fn_id="held", trigger=inngest.TriggerEvent(event="test/held"), retries=0)
def held(ctx: inngest.ContextSync) -> str:
    """Its first step waits until the test sets `HOLDS[event.data.hold]`; then a second step."""

    def first() -> str:
        RECORDER.record(ctx, "first")
        if not HOLDS[ctx.event.data["hold"]].wait(timeout=GUARD_SECONDS):
            raise RuntimeError("never released")
        return "first"

    ctx.step.run("first", first)
    return ctx.step.run("second", lambda: RECORDER.record(ctx, "second") or "second")


CAPACITY_FUNCTIONS = [gathered, keyed, held]
