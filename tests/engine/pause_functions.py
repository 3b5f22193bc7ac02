"""Test-only functions for step.wait_for_event, step.invoke and cancel-on (served by tests/engine/urls.py).

Timeouts come from the event (`timeoutSeconds`) so each test picks one; a step that must not finish before the test
has done something holds on a gate the test opens.
"""

from __future__ import annotations

from datetime import timedelta

import inngest

from .functions import RECORDER, client


def _timeout(ctx: inngest.ContextSync) -> timedelta:
    return timedelta(seconds=ctx.event.data.get("timeoutSeconds", 3600))


@client.create_function(fn_id="approval", trigger=inngest.TriggerEvent(event="test/approval.requested"), retries=0)
def approval(ctx: inngest.ContextSync) -> dict:
    """Waits for `test/approval.given` of the same request id; a gate (if any) holds it before the wait begins."""
    gate = ctx.event.data.get("holdBeforeWait")

    def before() -> str:
        RECORDER.record(ctx, "before-wait")
        if gate:
            RECORDER.hold(gate)
        return "ready"

    ctx.step.run("before-wait", before)
    approved = ctx.step.wait_for_event(
        "approval",
        event="test/approval.given",
        if_exp="event.data.requestId == async.data.requestId",
        timeout=_timeout(ctx),
    )
    return {"approved": None if approved is None else {"id": approved.id, "data": approved.data}}


@client.create_function(fn_id="bad-wait", trigger=inngest.TriggerEvent(event="test/bad.wait"), retries=0)
def bad_wait(ctx: inngest.ContextSync) -> None:
    """Waits with an `if` that is not CEL: the step fails with the reason, it never waits."""
    ctx.step.wait_for_event("broken", event="test/approval.given", if_exp="event.data.id ==", timeout=_timeout(ctx))


@client.create_function(fn_id="doubler", trigger=inngest.TriggerEvent(event="test/never"), retries=0)
def doubler(ctx: inngest.ContextSync) -> dict:
    """Invoked only: doubles `n`, fails on `fail`, sleeps an hour on `sleep`."""
    RECORDER.record(ctx, "doubler", event=ctx.event.name)
    if ctx.event.data.get("fail"):
        raise ValueError(f"cannot double {ctx.event.data['n']}")
    if ctx.event.data.get("sleep"):
        ctx.step.sleep("long-nap", timedelta(hours=1))
    return {"doubled": ctx.event.data["n"] * 2}


@client.create_function(fn_id="invoker", trigger=inngest.TriggerEvent(event="test/invoker"), retries=0)
def invoker(ctx: inngest.ContextSync) -> dict:
    """Invokes `doubler`; records the error the SDK raises when the invoke fails or times out, then re-raises it."""
    try:
        result = ctx.step.invoke(
            "call-doubler",
            function=doubler,
            data={key: value for key, value in ctx.event.data.items() if key != "timeoutSeconds"},
            timeout=_timeout(ctx),
        )
    except inngest.StepError as error:
        RECORDER.record(ctx, "invoke-error", name=error.name, message=error.message)
        raise
    return {"result": result}


@client.create_function(
    fn_id="cancellable",
    trigger=inngest.TriggerEvent(event="test/cancellable"),
    cancel=[
        inngest.Cancel(
            event="test/cancellable.stop",
            if_exp="event.data.orderId == async.data.orderId",
            timeout=timedelta(hours=1),
        )
    ],
    retries=0,
)
def cancellable(ctx: inngest.ContextSync) -> str:
    """Its first step holds on the gate named in the event; `second` runs only if the run was not cancelled."""

    def first() -> str:
        RECORDER.record(ctx, "first")
        RECORDER.hold(ctx.event.data["gate"])
        return "first"

    ctx.step.run("first", first)
    ctx.step.run("second", lambda: RECORDER.record(ctx, "second"))
    return "done"


PAUSE_FUNCTIONS = [approval, bad_wait, doubler, invoker, cancellable]
