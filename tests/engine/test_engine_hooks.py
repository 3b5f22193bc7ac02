"""The core's registration seam (jobs/engine/hooks.py): once Django has started, every feature has registered."""

from __future__ import annotations

import pytest

from jobs.engine import hooks
from jobs.engine.protocol import ProtocolError


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


def test_the_features_queue_kinds_are_found_by_lookup():
    # The runtime runs these items without an SDK request and imports neither feature (test_engine_layers.py).
    timeout = hooks.queue_kind_of("timeout:abc123", None)
    ai = hooks.queue_kind_of("abc123", {"url": "http://provider"})
    assert (timeout.name, timeout.apply.__module__, timeout.call) == ("pause.timeout", "jobs.engine.pause_resume", None)
    assert (ai.name, ai.apply.__module__, ai.call.__module__) == (
        "ai.infer",
        "jobs.engine.ai_gateway",
        "jobs.engine.ai_gateway",
    )
    assert hooks.queue_kind_of("abc123", None) is None  # a step: an SDK request
    assert hooks.queue_kind_named("ai.infer") is ai


def test_the_claim_gate_is_the_throttle():
    assert hooks.claim_held(None, [], now=None) == set()  # nothing chosen: the gate is not asked
    assert [f"{gate.__module__}.{gate.__name__}" for gate in hooks.claim_gates()] == [
        "jobs.engine.throttle.hold_throttled"
    ]


def test_each_feature_checks_its_own_part_of_a_function_config_and_the_registry_imports_none_of_them():
    names = [f"{check.__module__}.{check.__name__}" for check in hooks.config_checks()]
    assert names == [
        "jobs.engine.cancellation.cancel_config_check",
        "jobs.engine.debounce.debounce_config_check",
        "jobs.engine.batching.batch_config_check",
        "jobs.engine.gates.gates_config_check",
    ]
    from tests.architecture.test_engine_layers import EDGES, FEATURES, LAYERS

    features = {target for target in EDGES["registry"] if LAYERS[target][0] == FEATURES}
    assert features == {"services.cron"}  # a cron trigger's next fire is stored with it; nothing else


def test_a_config_check_raises_the_error_stored_with_the_function():
    with pytest.raises(ProtocolError, match="cancel"):
        hooks.config_check_all({"cancel": "not a list"})
    hooks.config_check_all({"id": "fine"})  # nothing to say about a config without those options
