"""Bounds on the work of every CEL evaluation, because the `cel` library has no cost limit and cannot be interrupted.

The library (`common-expression-language`, Rust) offers no cost limit, and `Program.execute` holds the GIL until
it returns: one expression over one small event once kept a web worker busy for tens of seconds. Inngest bounds the
same work with cel-go's cost tracking; here the bounds come from what this library was measured to spend time on
(bench/expressions.py):
- `matches()` compiles its pattern at every evaluation (no cache), and a short pattern can take ~80 ms to compile
  (`\\w{1000}`, Unicode classes repeated), so 50 of them in one expression take seconds. At sync, a pattern must be
  a string literal whose estimated compiled size is at most `MAX_PATTERN_SIZE`, and an expression may call
  `matches()` at most `MAX_PATTERN_CALLS` times: a pattern read from the event, or a bigger one, cannot be bounded.
- executing converts the whole activation, and every reference to a variable (`event`, `async`) costs about as
  much again (the library converts the value it reads): `weight x (1 + references)` must stay within `BUDGET`,
  where the weight counts the activation's values (a string as one per `STRING_BYTES_PER_VALUE` bytes). An
  evaluation over budget is not run: it counts as not matching (a key as ""), with a log line, and intake goes on.
  Weighing stops as soon as the budget is passed, so it costs no more than the evaluation it guards.
Comprehension macros (`all`, `exists`, `map`, ...) need no rule here: the library lists the names they bind as
variables, so check() already refuses them.
"""

from __future__ import annotations

import ast
import re
import re._constants as regex_constants  # the stdlib's own regex parser: the pattern's structure, nothing run
import re._parser as regex_parser
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Estimated units (one value converted once) an evaluation may cost, about 100-250 ns each on the development
#: machine; bench/expressions.py measures the worst case this allows (aim: at most 100 ms per event).
BUDGET = 400_000
#: Converting a string costs about as much per this many bytes as one number, list or map does (measured).
STRING_BYTES_PER_VALUE = 256
MAX_PATTERN_CALLS = 3
MAX_PATTERN_LENGTH = 256
#: Estimated compiled size of a pattern: a literal character or a small class counts 1, a Unicode class
#: (`\w`, `\d`, `\s`, a negated class) `UNICODE_CLASS_SIZE`, repetition multiplies by its largest count.
MAX_PATTERN_SIZE = 2_000
UNICODE_CLASS_SIZE = 100

# Comments and strings first (nothing inside them counts), then identifiers and the brackets that nest.
_TOKEN = re.compile(
    r"(?P<comment>//[^\n]*)"
    # raw strings (no escapes), then the others
    r"""|(?P<raw>(?:[rR][bB]?|[bB][rR])(?:'''.*?'''|\"\"\".*?\"\"\"|'[^'\n]*'|"[^"\n]*"))"""
    r"""|(?P<string>[bB]?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))"""
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<dot>\.)|(?P<other>\S)",
    re.DOTALL,
)


class Unbounded(ValueError):
    """Why an expression's work cannot be bounded (the message names the part)."""


@dataclass(frozen=True)
class Shape:
    """What the bounds need from an expression's text."""

    references: int  # uses of an activation variable
    patterns: tuple[str | None, ...]  # each matches() call's pattern: the literal's value, or None if not a literal


@lru_cache(maxsize=1024)
def shape(text: str, variables: frozenset[str]) -> Shape:
    """Count, outside comments and string literals, the references to `variables`, and find each `matches()`
    call's pattern (its last argument, when that argument is one string literal)."""
    tokens = [token for token in _TOKEN.finditer(text) if token.lastgroup != "comment"]
    references = 0
    patterns: list[str | None] = []
    open_calls: list[bool] = []  # for each open bracket: whether it is a matches() call's
    for index, token in enumerate(tokens):
        kind, value = token.lastgroup, token.group()
        before = tokens[index - 1].group() if index else ""
        if kind == "name" and before != "." and value in variables:
            references += 1
        elif kind == "open":
            open_calls.append(value == "(" and before == "matches")
        elif kind == "close" and open_calls and open_calls.pop():
            last, first = tokens[index - 1], tokens[index - 2] if index > 1 else tokens[0]
            # the whole argument is one literal: `('...')` or `(text, '...')`, never `('...' + x)`
            literal = (
                last.lastgroup in ("string", "raw")
                and not last.group().lower().startswith(("b", "rb", "br"))
                and first.group() in ("(", ",")
            )
            patterns.append(_string_value(last.group()) if literal else None)
    return Shape(references=references, patterns=tuple(patterns))


def _string_value(literal: str) -> str | None:
    """A CEL string literal's value (its quoting and escapes are Python's), or None if it is not one Python reads."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def check_bounded(text: str, variables: frozenset[str]) -> None:
    """Raise Unbounded unless every `matches()` in `text` has a literal pattern that compiles within bounds."""
    patterns = shape(text, variables).patterns
    if len(patterns) > MAX_PATTERN_CALLS:
        raise Unbounded(f"calls matches() {len(patterns)} times; at most {MAX_PATTERN_CALLS} are allowed")
    for pattern in patterns:
        if pattern is None:
            raise Unbounded(
                "has a matches() whose pattern is not one string literal (a pattern from the event, or built)"
            )
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise Unbounded(f"has a matches() pattern longer than {MAX_PATTERN_LENGTH} characters")
        try:
            size = pattern_size(regex_parser.parse(pattern))
        except (re.error, OverflowError, RecursionError):
            size = None
        if size is None:
            raise Unbounded(f"has a matches() pattern {pattern!r} whose size cannot be estimated")
        if size > MAX_PATTERN_SIZE:
            raise Unbounded(f"has a matches() pattern {pattern!r} too big to compile at every evaluation")


def pattern_size(parsed: Any) -> int | None:
    """The estimated compiled size of a parsed pattern (see MAX_PATTERN_SIZE); None for what the estimate does
    not know (back-references, look-arounds: RE2 syntax has neither)."""
    total = 0
    for op, argument in parsed:
        if op in (regex_constants.LITERAL, regex_constants.NOT_LITERAL, regex_constants.ANY):
            total += UNICODE_CLASS_SIZE if op != regex_constants.LITERAL else 1
        elif op == regex_constants.IN:
            wide = any(item_op in (regex_constants.CATEGORY, regex_constants.NEGATE) for item_op, _ in argument)
            total += UNICODE_CLASS_SIZE if wide else 1
        elif op in (regex_constants.MAX_REPEAT, regex_constants.MIN_REPEAT, regex_constants.POSSESSIVE_REPEAT):
            low, high, sub = argument
            inner = pattern_size(sub)
            if inner is None:
                return None
            total += inner * (low + 1 if high == regex_constants.MAXREPEAT else max(high, 1))
        elif op == regex_constants.SUBPATTERN:
            inner = pattern_size(argument[-1])
            if inner is None:
                return None
            total += inner
        elif op == regex_constants.BRANCH:
            sizes = [pattern_size(branch) for branch in argument[1]]
            if None in sizes:
                return None
            total += sum(sizes)  # type: ignore[arg-type]
        elif op == regex_constants.AT:
            continue
        else:
            return None
    return total


def weight(value: Any, *, stop_above: int) -> int:
    """The activation's size in values (see STRING_BYTES_PER_VALUE); counting stops once past `stop_above`, so
    weighing a huge event costs no more than the budget it is measured against."""
    total = 0
    pending = [value]
    while pending and total <= stop_above:
        item = pending.pop()
        total += 1
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, str | bytes):
            total += len(item) // STRING_BYTES_PER_VALUE
    return total


def over_budget(text: str, activation: dict[str, Any]) -> int | None:
    """The estimated cost of evaluating `text` against `activation` when it exceeds BUDGET, else None."""
    passes = 1 + shape(text, frozenset(activation)).references
    affordable = BUDGET // passes  # the largest weight it can afford: weighing stops past it
    cost = weight(activation, stop_above=affordable) * passes
    return cost if cost > BUDGET else None
