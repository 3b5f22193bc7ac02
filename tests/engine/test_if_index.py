"""if_index.py narrows the waiting `if`s an event is checked against; it must never drop one CEL would match."""

from __future__ import annotations

import itertools

from jobs.engine import expressions
from jobs.engine.if_index import NEVER, IfIndex, equality_shape, event_keys, match_key


def test_the_equality_shape_is_recognised_in_either_order_and_nothing_else():
    assert equality_shape("event.data.id == async.data.id") == ("data.id", "data.id")
    assert equality_shape(" async.data.ref==event.data.order.id ") == ("data.order.id", "data.ref")
    assert equality_shape("event.data.id == event.data.other") is None
    assert equality_shape("event.data.id == async.data.id && async.data.ok") == ("data.id", "data.id")
    assert equality_shape("async.data.ok && event.data.id == async.data.id") == ("data.id", "data.id")
    assert equality_shape("event.data.id != async.data.id") is None
    assert equality_shape("event.data.id == async.data.id || async.data.ok") is None  # a disjunction
    assert equality_shape("event.data.id == async.data.id && async.data.a || async.data.b") is None
    assert equality_shape("async.data.ok ? event.data.id == async.data.id : true") is None
    assert equality_shape("(event.data.id == async.data.id || true) && async.data.ok") is None
    assert equality_shape("async.data.s == '&& event.data.id == async.data.id'") is None  # inside a string


# The cancel `if` of nurture/sequence.generate (jobs/flow_control.py): a newer assignment for the same contact.
NEWER = (
    "event.data.tenantId == async.data.tenantId && event.data.contactId == async.data.contactId"
    " && async.data.assignmentId > event.data.assignmentId"
)


def test_a_conjunction_is_narrowed_by_every_equality_it_holds():
    index: IfIndex[str] = IfIndex()
    for tenant, contact in itertools.product(("t1", "t2"), ("c1", "c2", "c3")):
        index.add(f"{tenant}/{contact}", NEWER, {"data": {"tenantId": tenant, "contactId": contact, "assignmentId": 1}})

    incoming = {"data": {"tenantId": "t2", "contactId": "c3", "assignmentId": 2}}
    assert index.candidates(incoming) == ["t2/c3"]
    assert index.candidates({"data": {"tenantId": "t2"}}) == []  # no contactId: the `if` cannot hold


def test_conjunctions_are_narrowed_to_a_superset_of_what_cel_matches():
    values = [1, 1.0, 2, "1", None, [1, 2], {"a": 1}, "&& x || y"]
    expressions_ = [
        "event.data.a == async.data.a && event.data.b == async.data.b",
        "async.data.b == event.data.b && async.data.a != 2 && (event.data.a == async.data.a)",
        "event.data.a == async.data.a && (async.data.b == event.data.b || async.data.a == 2)",
        "event.data.a == async.data.a && async.data.s != 'x || y' && event.data.b == async.data.b",
    ]
    for expression in expressions_:
        index: IfIndex[tuple] = IfIndex()
        waiting = list(itertools.product(values, values))
        for a, b in waiting:
            index.add((a, b), expression, {"data": {"a": a, "b": b}})
        for a, b in itertools.product(values, values):
            incoming = {"data": {"a": a, "b": b, "s": "z"}}
            candidates = index.candidates(incoming)
            for run_a, run_b in waiting:
                activation = {"event": {"data": {"a": run_a, "b": run_b}}, "async": incoming}
                if expressions.matches(expression, activation):
                    assert (run_a, run_b) in candidates, (expression, (run_a, run_b), incoming)


def test_an_event_is_checked_only_against_the_ifs_whose_value_it_carries():
    index: IfIndex[str] = IfIndex()
    index.add("run-1", "event.data.id == async.data.id", {"data": {"id": 1}})
    index.add("run-2", "event.data.id == async.data.id", {"data": {"id": 2}})
    index.add("any", "async.data.n > 3", {"data": {}})  # another shape: always a candidate
    index.add("no-if", "", {"data": {}})
    index.add("no-field", "event.data.id == async.data.id", {"data": {}})  # CEL errors for every event

    assert index.candidates({"data": {"id": 2}}) == ["any", "no-if", "run-2"]
    assert index.candidates({"data": {"id": 1.0}}) == ["any", "no-if", "run-1"]  # CEL: 1 == 1.0
    assert index.candidates({"data": {}}) == ["any", "no-if"]


def test_the_index_finds_every_match_cel_finds():
    values = [1, 1.0, 2, "1", True, None, [1, 2], [1.0, 2], {"a": 1, "b": [2]}, {"b": [2.0], "a": 1}, "x"]
    expression = "event.data.key == async.data.key"
    index: IfIndex[int] = IfIndex()
    for position, value in enumerate(values):
        index.add(position, expression, {"data": {"key": value}})

    for incoming_value, (position, waiting_value) in itertools.product(values, enumerate(values)):
        activation = {"event": {"data": {"key": waiting_value}}, "async": {"data": {"key": incoming_value}}}
        if expressions.matches(expression, activation):
            assert position in index.candidates({"data": {"key": incoming_value}}), (waiting_value, incoming_value)


def test_a_pause_key_is_among_the_keys_of_every_event_cel_matches():
    values = [1, 1.0, 2, "1", True, None, [1, 2], [1.0, 2], {"a": 1, "b": [2]}, {"b": [2.0], "a": 1}, "x"]
    expression = "event.data.key == async.data.ref"
    for waiting, incoming in itertools.product(values, values):
        activation = {"event": {"data": {"key": waiting}}, "async": {"name": "a/b", "data": {"ref": incoming}}}
        key = match_key(expression, activation["event"])
        if expressions.matches(expression, activation):
            assert key in event_keys(activation["async"]), (waiting, incoming)
        else:
            assert key not in event_keys(activation["async"]), (waiting, incoming)


def test_pause_keys_for_other_shapes_and_missing_fields():
    assert match_key("async.data.n > 3", {"data": {}}) == ""  # not indexed: every event is a candidate
    assert match_key("", {"data": {}}) == ""
    assert match_key("event.data.id == async.data.id", {"data": {}}) == NEVER
    assert event_keys({"data": {str(n): n for n in range(600)}}) is None  # too many fields: checked by name alone
