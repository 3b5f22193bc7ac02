"""Run priority (`priority.run`) through the real engine: a higher factor starts ahead within its key queue."""

from __future__ import annotations

import pytest

from .gate_functions import GATES_PATH

pytestmark = [pytest.mark.urls("tests.engine.urls_gates"), pytest.mark.django_db(transaction=True)]


def _event(key: str, seq: int) -> dict:
    return {"name": "gates/prioritized", "data": {"key": key, "seq": seq, "source": "import"}}


def test_a_high_priority_run_starts_ahead_of_an_older_backlog_of_its_key_others_keep_their_turns(engine, recorder):
    # Synced, not started: the backlog is all queued before the first claim (limit 1 per key).
    dispatcher = engine.start_dispatcher(app_urls=[f"{engine.url}{GATES_PATH}"], start=False, max_in_flight=4)
    engine.send_many([_event("a", n) for n in range(5)])
    engine.send_many([_event("b", n) for n in range(3)])
    engine.send("gates/prioritized", {"key": "a", "seq": 99, "source": "api"})
    engine.send("gates/prioritized", {"key": "a", "seq": 5, "source": "import"})
    dispatcher.start()

    engine.wait_for_runs("-prioritized", 10)
    order = [(e["key"], e["seq"]) for e in recorder.executions]
    a_order = [seq for key, seq in order if key == "a"]
    b_order = [seq for key, seq in order if key == "b"]
    assert a_order == [99, 0, 1, 2, 3, 4, 5]  # the api run first; equal priorities stay FIFO
    assert b_order == [0, 1, 2]
    # Key b is not held behind key a's backlog: its first run is in the first round, beside a's first.
    assert order.index(("b", 0)) < order.index(("a", 2))


@pytest.mark.parametrize(
    ("expression", "data", "factor"),
    [
        ("event.data.source == 'api' ? 120 : 0", {"source": "api"}, 120),
        ("event.data.source == 'api' ? 120 : 0", {"source": "import"}, 0),
        ("event.data.p", {"p": 5000}, 600),  # clamped to the documented range
        ("event.data.p", {"p": -5000}, -600),
        ("event.data.p", {"p": "high"}, 0),  # not an int: no priority, as in Inngest
        ("event.data.p", {}, 0),  # cannot be evaluated: no priority
    ],
)
def test_the_priority_factor_is_an_int_clamped_to_600_seconds_either_way(expression, data, factor):
    from jobs.engine.gates import priority_factor

    assert priority_factor(expression, {"event": {"data": data}}) == factor
