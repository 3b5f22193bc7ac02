"""Inngest's expressions are CEL: checked at sync, evaluated with the `cel` library (jobs/engine/expressions.py)."""

from __future__ import annotations

import pytest

from jobs.engine import expressions
from jobs.engine.protocol import ProtocolError


def test_the_failure_handler_trigger_expression_matches_only_its_function():
    expression = "event.data.function_id == 'app-send-email'"
    expressions.check(expression, what="trigger expression")
    assert expressions.matches(expression, {"event": {"data": {"function_id": "app-send-email"}}})
    assert not expressions.matches(expression, {"event": {"data": {"function_id": "app-other"}}})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("event.data.n > 3", False),
        ("event.data.n >= 3 && event.name != 'x'", True),
        ("size(event.data.tags) == 2", True),
        ("'vip' in event.data.tags", True),
        ("event.data.a == 1 || true", True),
        ("event.data.name.startsWith('Jo')", True),
    ],
)
def test_cel_beyond_equality_is_evaluated_as_cel(expression, expected):
    event = {"name": "y", "data": {"n": 3, "tags": ["vip", "new"], "name": "Jo Bloggs"}}
    expressions.check(expression, what="trigger expression")
    assert expressions.matches(expression, {"event": event}) is expected


def test_an_if_comparing_the_waiting_runs_event_with_the_incoming_one():
    expression = "event.data.contactId == async.data.contactId"
    expressions.check(expression, what="cancel `if`", variables=("event", "async"))
    run_event, same, other = ({"data": {"contactId": c}} for c in ("c-1", "c-1", "c-2"))
    assert expressions.matches(expression, {"event": run_event, "async": same})
    assert not expressions.matches(expression, {"event": run_event, "async": other})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("event.data.n ==", "is not valid CEL"),
        ("event.data.n === 3", "is not valid CEL"),
        ("async.data.n == 1", "only `event` can be used here"),
        ("", "must be a non-empty CEL expression"),
    ],
)
def test_a_bad_expression_is_a_sync_error_that_says_why(expression, message):
    with pytest.raises(ProtocolError, match=message):
        expressions.check(expression, what="trigger expression")


def test_a_missing_field_or_a_type_error_matches_nothing_instead_of_failing():
    assert not expressions.matches("event.data.missing == 'x'", {"event": {"data": {}}})
    assert not expressions.matches("event.data.n > 'text'", {"event": {"data": {"n": 1}}})
    assert not expressions.matches("event.data.n", {"event": {"data": {"n": 1}}})  # not a boolean: no match
    with pytest.raises(expressions.ExpressionError, match="missing"):
        expressions.evaluate("event.data.missing", {"event": {"data": {}}})


def test_keys_are_strings_of_what_the_expression_gives():
    event = {"data": {"tenantId": "t-1", "nested": {"n": 7}, "flag": True}}
    assert expressions.key_value("event.data.tenantId", {"event": event}) == "t-1"
    assert expressions.key_value("event.data.nested.n", {"event": event}) == "7"
    assert expressions.key_value("event.data.flag", {"event": event}) == "true"
    assert expressions.key_value('"openai"', {"event": event}) == "openai"
    assert expressions.key_value("event.data.tenantId + '-' + string(event.data.nested.n)", {"event": event}) == "t-1-7"
    assert expressions.key_value("event.data.missing", {"event": event}) == ""


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("event.data.s.matches(event.data.pattern)", "not one string literal"),
        ("event.data.s.matches('a' + event.data.pattern)", "not one string literal"),
        # a literal glued to another is built at evaluation too
        ("event.data.s.matches('\\\\w{1000}' + '')", "not one string literal"),
        ("event.data.s.matches('\\\\w{1000}')", "too big"),
        ("matches(event.data.s, '[\\\\d\\\\s]{30}(\\\\w{9}){9}')", "too big"),
        ("event.data.s.matches('(a)\\\\1')", "cannot be estimated"),
        (" || ".join(["event.data.s.matches('a')"] * 4), "4 times"),
        # a comment or a string may not hide a bracket from the count
        ("event.data.s.matches( // )\n event.data.p)", "not one string literal"),
    ],
)
def test_a_pattern_whose_compile_cannot_be_bounded_is_refused_at_sync(expression, why):
    """matches() compiles its pattern at every evaluation: `\\w{1000}` alone takes ~80 ms, 50 of them seconds."""
    with pytest.raises(ProtocolError, match=why):
        expressions.check(expression, what="cancel `if`", variables=("event", "async"))


def test_small_literal_patterns_are_accepted_and_evaluated():
    expression = "event.data.email.matches('^[a-z.]+@example[.]com$') && event.data.code.matches(r'\\d{4}')"
    expressions.check(expression, what="trigger expression")
    assert expressions.matches(expression, {"event": {"data": {"email": "jo@example.com", "code": "1234"}}})


MANY_REFERENCES = " && ".join(["async.data.ids == async.data.ids"] * 20)  # 40 references, each reading the list


def test_an_evaluation_over_the_cost_budget_is_no_match_and_logged(caplog):
    """The expression holds, but over 100,000 ids its 40 reads would cost about 4 x 10^6 units: it is not run."""
    activation = {"event": {}, "async": {"data": {"ids": list(range(100_000))}}}
    with caplog.at_level("WARNING", logger="jobs.engine.expressions"):
        assert expressions.matches(MANY_REFERENCES, activation) is False
        assert expressions.key_value(MANY_REFERENCES, activation) == ""
    assert "over the budget" in caplog.text


def test_the_same_expression_over_a_small_event_is_evaluated():
    expressions.check(MANY_REFERENCES, what="cancel `if`", variables=("event", "async"))
    assert expressions.matches(MANY_REFERENCES, {"event": {}, "async": {"data": {"ids": list(range(50))}}}) is True
