"""Finding which waiting `if` expressions (over `event` and `async`) an incoming event may satisfy, without
evaluating every one of them.

Inngest interpolates the run's `event` into a pause's expression and, past 50 pauses for an event name, matches
incoming events through an aggregate tree of the expressions' equality predicates (executor.go `HandlePauses`,
`handleAggregatePauses`). The common shape, `event.<path> == async.<path>` (either order), is indexed here by the
run's value, also as a conjunct of `&&` (each conjunct must hold for the whole to): an incoming event is only
checked against the expressions whose values it carries. The index only
narrows the candidates; CEL (expressions.matches) still decides every match, so nothing matches that CEL would
not match. Values are compared as CEL compares them: numbers by value (1 == 1.0), maps whatever their key order.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from functools import lru_cache
from typing import Any, Generic, TypeVar

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_EQUALITY = re.compile(rf"\s*(event|async)\.({_PATH})\s*==\s*(event|async)\.({_PATH})\s*")

Item = TypeVar("Item")


class IfIndex(Generic[Item]):
    """Items each waiting with an `if` (or none) and the run's triggering event; `candidates` narrows by value."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Item]] = defaultdict(list)
        self._async_paths: dict[tuple[str, ...], None] = {}  # each indexed `if`'s async paths, in order
        self._unindexed: list[Item] = []

    def add(self, item: Item, expression: str, trigger: dict[str, Any]) -> None:
        shapes = equality_shapes(expression) if expression else ()
        if not shapes:
            self._unindexed.append(item)
            return
        values = _keys_at(trigger, tuple(event_path for event_path, _ in shapes))
        if values is None:
            return  # the `if` reads a field the run's event lacks: CEL errors for every event, never matches
        paths = tuple(async_path for _, async_path in shapes)
        self._by_value[(paths, values)].append(item)
        self._async_paths[paths] = None

    def candidates(self, incoming: dict[str, Any]) -> list[Item]:
        """The items whose `if` this event may satisfy (a superset of the matches), in the order they were added."""
        found_items = list(self._unindexed)
        for paths in self._async_paths:
            values = _keys_at(incoming, paths)
            if values is not None:
                found_items += self._by_value.get((paths, values), [])
        return found_items


def _keys_at(value: dict[str, Any], paths: tuple[str, ...]) -> tuple[str, ...] | None:
    """The comparable key of the value at each path; None if one of the paths is missing."""
    keys = []
    for path in paths:
        found, found_value = _lookup(value, path)
        if not found:
            return None
        keys.append(_key(found_value))
    return tuple(keys)


def equality_shape(expression: str) -> tuple[str, str] | None:
    """`(event path, async path)` of the first `event.a.b == async.c.d` (either order) the `if` needs, else None."""
    shapes = equality_shapes(expression)
    return shapes[0] if shapes else None


@lru_cache(maxsize=1024)
def equality_shapes(expression: str) -> tuple[tuple[str, str], ...]:
    """Every `event.<a> == async.<b>` (either order) that must hold for the `if` to hold: the `if` itself, or a
    conjunct of its top-level `&&`s (in brackets too). An `if` with a top-level `||` or `?:` needs none of them.

    Cached: intake asks once per waiting run, and a function's runs share its few `if`s."""
    shapes: list[tuple[str, str]] = []
    for conjunct in _conjuncts(expression) or []:
        inner = _unbracketed(conjunct)
        if inner is not None:
            shapes += equality_shapes(inner)
            continue
        match = _EQUALITY.fullmatch(conjunct)
        if match is None or match.group(1) == match.group(3):
            continue
        shapes.append(
            (match.group(2), match.group(4)) if match.group(1) == "event" else (match.group(4), match.group(2))
        )
    return tuple(dict.fromkeys(shapes))


def _conjuncts(expression: str) -> list[str] | None:
    """The operands of the expression's top-level `&&`s; None if it has a top-level `||` or `?` (a conditional, or
    CEL's optional syntax), or is not well formed. CEL's `&&` is true only when every operand is true."""
    parts, start = [], 0
    positions = _top_level(expression)
    if positions is None:
        return None
    for position in positions:
        pair = expression[position : position + 2]
        if pair == "||" or expression[position] == "?":
            return None
        if pair == "&&" and position >= start:
            parts.append(expression[start:position])
            start = position + 2
    parts.append(expression[start:])
    return [part.strip() for part in parts]


def _unbracketed(conjunct: str) -> str | None:
    """The inside of `( ... )` when one pair of brackets holds the whole conjunct, else None."""
    if not (conjunct.startswith("(") and conjunct.endswith(")")):
        return None
    inner = conjunct[1:-1]
    positions = _top_level(inner)
    return inner if positions is not None else None


def _top_level(expression: str) -> list[int] | None:
    """Positions of the characters outside any string and bracket; None if a string or bracket is left open."""
    positions: list[int] = []
    depth, index = 0, 0
    while index < len(expression):
        char = expression[index]
        if char in "\"'":
            index = _string_end(expression, index)
            if index < 0:
                return None
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0:
            positions.append(index)
        index += 1
    return positions if depth == 0 else None


def _string_end(expression: str, start: int) -> int:
    """The index after the CEL string literal opening at `start` (quote, or triple quote); -1 if unterminated.
    A raw string (`r"..."`) has no escapes."""
    quote = expression[start] * 3 if expression.startswith(expression[start] * 3, start) else expression[start]
    raw = start > 0 and expression[start - 1] in "rR"
    index = start + len(quote)
    while index < len(expression):
        if not raw and expression[index] == "\\":
            index += 2
            continue
        if expression.startswith(quote, index):
            return index + len(quote)
        index += 1
    return -1


def _lookup(value: object, path: str) -> tuple[bool, object]:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _key(value: object) -> str:
    return json.dumps(_canonical(value), sort_keys=True)


def _canonical(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


# --- The same narrowing in SQL: a pause stores the digest of (async path, the run's value) -------------------

NEVER = "never"  # the `if` reads a field the run's event lacks: no event can satisfy it
MAX_EVENT_KEYS = 500  # an event with more fields than this is checked against every pause of its name


def match_key(expression: str, trigger: dict[str, Any]) -> str:
    """The digest an incoming event must carry for this `if` to hold ("" for a shape that is not indexed)."""
    shape = equality_shape(expression) if expression else None
    if shape is None:
        return ""
    event_path, async_path = shape
    found, value = _lookup(trigger, event_path)
    return _digest(async_path, value) if found else NEVER


def event_keys(incoming: dict[str, Any]) -> list[str] | None:
    """The digests of every (path, value) the event carries; None when it has more than MAX_EVENT_KEYS."""
    keys: list[str] = []
    pending: list[tuple[str, object]] = [(name, value) for name, value in incoming.items()]
    while pending:
        path, value = pending.pop()
        keys.append(_digest(path, value))
        if len(keys) > MAX_EVENT_KEYS:
            return None
        if isinstance(value, dict):
            pending += [(f"{path}.{name}", item) for name, item in value.items() if isinstance(name, str)]
    return keys


def _digest(path: str, value: object) -> str:
    return hashlib.sha1(f"{path}\0{_key(value)}".encode(), usedforsecurity=False).hexdigest()
