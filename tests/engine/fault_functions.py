"""Test-only function for the fault tests: a quick step, a step held at a gate the test opens, a quick step.

Each step records itself in `RECORDER` when it runs, so a test counts the executions of every step of every run.
"""

from __future__ import annotations

import inngest

from .functions import RECORDER, client


@client.create_function(fn_id="relay", trigger=inngest.TriggerEvent(event="test/relay"), retries=2)
def relay(ctx: inngest.ContextSync) -> list[str]:
    """`before`, then `held` (waits at gate `event.data.gate` until the test opens it), then `after`."""

    def step(name: str, gate: str | None = None) -> str:
        RECORDER.record(ctx, name)
        if gate:
            RECORDER.hold(gate)
        return f"{name}-{ctx.event.data['n']}"

    return [
        ctx.step.run("before", lambda: step("before")),
        ctx.step.run("held", lambda: step("held", ctx.event.data["gate"])),
        ctx.step.run("after", lambda: step("after")),
    ]


FAULT_FUNCTIONS = [relay]
