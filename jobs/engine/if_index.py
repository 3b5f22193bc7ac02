"""Finding which waiting `if` expressions (over `event` and `async`) an incoming event may satisfy, without
evaluating every one of them.

Inngest interpolates the run's `event` into a pause's expression and, past 50 pauses for an event name, matches
incoming events through an aggregate tree of the expressions' equality predicates (executor.go `HandlePauses`,
`handleAggregatePauses`). The common shape, `event.<path> == async.<path>` (either order), is indexed here by the
run's value: an incoming event is only checked against the expressions whose value it carries. The index only
narrows the candidates; CEL (expressions.matches) still decides every match, so nothing matches that CEL would
not match. Values are compared as CEL compares them: numbers by value (1 == 1.0), maps whatever their key order.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from typing import Any, Generic, TypeVar

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_EQUALITY = re.compile(rf"\s*(event|async)\.({_PATH})\s*==\s*(event|async)\.({_PATH})\s*")

Item = TypeVar("Item")


class IfIndex(Generic[Item]):
    """Items each waiting with an `if` (or none) and the run's triggering event; `candidates` narrows by value."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], list[Item]] = defaultdict(list)
        self._async_paths: set[str] = set()
        self._unindexed: list[Item] = []

    def add(self, item: Item, expression: str, trigger: dict[str, Any]) -> None:
        shape = equality_shape(expression) if expression else None
        if shape is None:
            self._unindexed.append(item)
            return
        event_path, async_path = shape
        found, value = _lookup(trigger, event_path)
        if not found:
            return  # the `if` reads a field the run's event lacks: CEL errors for every event, so it never matches
        self._by_value[(async_path, _key(value))].append(item)
        self._async_paths.add(async_path)

    def candidates(self, incoming: dict[str, Any]) -> list[Item]:
        """The items whose `if` this event may satisfy (a superset of the matches), in the order they were added."""
        found_items = list(self._unindexed)
        for path in self._async_paths:
            found, value = _lookup(incoming, path)
            if found:
                found_items += self._by_value.get((path, _key(value)), [])
        return found_items


def equality_shape(expression: str) -> tuple[str, str] | None:
    """`(event path, async path)` for `event.a.b == async.c.d` (either order), else None."""
    match = _EQUALITY.fullmatch(expression)
    if match is None or match.group(1) == match.group(3):
        return None
    if match.group(1) == "event":
        return match.group(2), match.group(4)
    return match.group(4), match.group(2)


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
