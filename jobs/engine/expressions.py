"""Inngest's expressions, which are CEL, evaluated with a CEL library (`common-expression-language`, the Rust
`cel` crate) instead of a home-made parser.

Inngest compiles every expression of a function config when it is synced and evaluates it against an activation
of named variables (pkg/expressions/expressions.go `NewExpressionEvaluator`, `Evaluate`): `event` for triggers,
keys and priority; `event` and `async` (the incoming event) for cancel-on and `step.wait_for_event`. The rules
followed here:
- a syntax error, or a variable the place does not offer, is a sync error (Inngest rejects the config);
- a boolean expression that cannot be evaluated (a missing field, a type error) is false: an `if` that errors
  matches nothing, it never fails the run;
- a key that cannot be evaluated is "" (the old engine's rule for a missing path, kept);
- the work is bounded (expression_cost.py): a `matches()` pattern that is not a small literal is a sync error,
  and an evaluation whose estimated cost is over budget is not run: it cannot be evaluated, so it matches nothing
  (a key is ""), with a warning in the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import cel

from . import expression_cost
from .protocol import ProtocolError

logger = logging.getLogger(__name__)

MAX_EXPRESSION_LENGTH = 4096
# The functions the `cel` library (the CEL core spec, no extensions) evaluates. It compiles a call to any name
# and fails only when evaluating it, so an `if` calling an unknown function matched nothing, silently; refused
# at sync instead, as Inngest's type-checked compile does. Operators are named `_+_`, `!_`, `@in` and pass.
KNOWN_FUNCTIONS = frozenset(
    {
        "has", "all", "exists", "exists_one", "map", "filter", "size", "type", "dyn",
        "int", "uint", "double", "string", "bytes", "timestamp", "duration",
        "contains", "startsWith", "endsWith", "matches",
        "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip


class ExpressionError(ValueError):
    """An expression that compiled but could not be evaluated against this activation."""


@lru_cache(maxsize=1024)
def _compile(text: str) -> Any:
    return cel.compile(text)


def check(text: str, *, what: str, variables: Iterable[str] = ("event",)) -> None:
    """Raise ProtocolError unless `text` is CEL that uses only `variables`; `what` names it in the message."""
    if not isinstance(text, str) or not text.strip():
        raise ProtocolError(f"{what} must be a non-empty CEL expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ProtocolError(f"{what} is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        program = _compile(text)
    except ValueError as error:
        raise ProtocolError(f"{what} {text!r} is not valid CEL: {str(error).splitlines()[0]}") from None
    allowed = set(variables)
    unknown = sorted(set(program.variables()) - allowed)
    if unknown:
        names = ", ".join(f"`{name}`" for name in sorted(allowed))
        raise ProtocolError(f"{what} {text!r} uses {', '.join(unknown)}; only {names} can be used here")
    unknown_functions = sorted(
        name for name in program.functions() if name[:1] not in ("_", "!", "@", "-") and name not in KNOWN_FUNCTIONS
    )
    if unknown_functions:
        raise ProtocolError(f"{what} {text!r} calls {', '.join(unknown_functions)}: not a CEL function")
    try:
        expression_cost.check_bounded(text, frozenset(allowed))
    except expression_cost.Unbounded as unbounded:
        raise ProtocolError(f"{what} {text!r} {unbounded}: its work cannot be bounded") from None


def evaluate(text: str, activation: dict[str, Any]) -> Any:
    """The expression's value; ExpressionError when it cannot be evaluated (a missing field, a type error, or an
    estimated cost over budget)."""
    cost = expression_cost.over_budget(text, activation)
    if cost is not None:
        logger.warning(
            "expression %r not evaluated (no match): estimated cost %d is over the budget of %d",
            text[:200],
            cost,
            expression_cost.BUDGET,
        )
        raise ExpressionError(f"{text!r}: estimated cost {cost} is over the budget of {expression_cost.BUDGET}")
    try:
        return _compile(text).execute(activation)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ExpressionError(f"{text!r}: {type(error).__name__}: {error}") from None


def matches(text: str, activation: dict[str, Any]) -> bool:
    """Whether a boolean expression holds; an evaluation error is no match, as in Inngest."""
    try:
        return evaluate(text, activation) is True
    except ExpressionError:
        return False


def key_value(text: str, activation: dict[str, Any]) -> str:
    """A key expression's value as a string (strings as they are, others as JSON); "" when it cannot be evaluated."""
    try:
        value = evaluate(text, activation)
    except ExpressionError:
        return ""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
