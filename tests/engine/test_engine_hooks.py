"""The core's registration seam (jobs/engine/hooks.py): once Django has started, every feature has registered."""

from __future__ import annotations

from jobs.engine import hooks


def test_the_features_opcodes_are_registered_beside_the_cores():
    assert set(hooks.opcodes()) == {"AIGateway", "WaitForEvent", "InvokeFunction"}
    assert hooks.opcode_handler("StepRun") is None  # the core's own ops stay in services/answers.py


def test_the_ticks_run_in_their_order():
    names = [f"{sweep.__module__}.{sweep.__name__}" for sweep in hooks.ticks()]
    assert names == [
        "jobs.engine.services.cron.cron_fire_due",
        "jobs.engine.delayed.delayed_fire_due",
        "jobs.engine.timeouts.timeouts_enforce",
        "jobs.engine.gates.gcra_prune",
    ]


def test_waits_are_resumed_before_cancel_on_runs_and_registering_again_adds_nothing():
    hooks_before = hooks.event_hooks()
    assert [f"{hook.__module__}.{hook.__name__}" for hook in hooks_before] == [
        "jobs.engine.pause_resume.pauses_resume_for_events",
        "jobs.engine.cancellation.runs_cancel_for_events",
    ]
    hooks.on_events(order=10)(hooks_before[0])
    assert hooks.event_hooks() == hooks_before
