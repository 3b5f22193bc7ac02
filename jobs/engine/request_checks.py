"""The one validation layer every engine endpoint reads its input through, so a hostile body or id gets a 4xx
naming what was wrong instead of a 500 from the JSON parser, the `cel` library or PostgreSQL.

- `read_json`: the body must be UTF-8 and JSON not nested past `MAX_JSON_DEPTH` (the parser recurses).
- `value_problem`: a JSON value's first part PostgreSQL, CEL or Inngest cannot take, with its path: a NUL or a
  lone surrogate in a string or key (PostgreSQL refuses both; the same rule as the API's, in
  nurturehub/request_limits.py), NaN or Infinity (not JSON: Python's parser accepts them, PostgreSQL's jsonb and
  Inngest's Go parser do not), a number out of range (a float that overflowed, an integer outside 64 bits: the
  `cel` library and Inngest's int64 fields cannot hold it), or nesting past `MAX_JSON_DEPTH`.
- `checked_id`: an id from a URL or a query (run, span, event): printable, short.
- `storable`: an SDK answer as the engine can store it: each NUL or lone surrogate in its strings and keys as
  U+FFFD. An answer is not refused like a request: the step already ran, and an answer that cannot be stored
  fails its transaction every time, so the step would run again and again.
"""

from __future__ import annotations

import json
import math
from typing import Any

from nurturehub.request_limits import UNSTORABLE

from .errors import ProtocolError

#: Deeper than this, a value is refused: Python's parser and the `cel` library both recurse, and no event or
#: function config Inngest sends comes near it.
MAX_JSON_DEPTH = 64
INT64 = 1 << 63
MAX_ID_LENGTH = 255


def read_json(raw: bytes, *, what: str) -> Any:
    """`raw` parsed as JSON; ProtocolError naming `what` when it is not UTF-8, not JSON, or nested too deeply."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"{what} is not UTF-8 (byte {error.start} cannot be decoded)") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ProtocolError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:
        raise ProtocolError(f"{what} is not valid JSON: {error}") from None


def value_problem(value: Any) -> tuple[str, str] | None:
    """(path, what is wrong) for the first part of `value` that cannot be taken, else None; paths read
    `data.items[2].name` (empty for the value itself)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return path, f"is nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return path, "holds a NUL character or a lone surrogate"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -INT64 <= item < INT64:
                return path, "is a number out of range (integers must fit in 64 bits)"
        elif isinstance(item, float):
            if math.isnan(item) or math.isinf(item):
                spelled = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
                return path, f"is {spelled} or out of range (JSON numbers must be finite)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if UNSTORABLE.search(key):
                    return path, "has a key with a NUL character or a lone surrogate"
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
    return None


def check_value(value: Any, *, where: str) -> None:
    """Raise ProtocolError `<where>: `<path>` <what is wrong>` unless `value_problem(value)` is None."""
    problem = value_problem(value)
    if problem is not None:
        path, reason = problem
        raise ProtocolError(f"{where}: `{path}` {reason}" if path else f"{where} {reason}")


def checked_id(value: str, *, what: str) -> str:
    """`value` when it can be an id (printable, at most MAX_ID_LENGTH characters); ProtocolError naming `what`."""
    if len(value) > MAX_ID_LENGTH:
        raise ProtocolError(f"{what} is longer than {MAX_ID_LENGTH} characters")
    if not value.isprintable():
        raise ProtocolError(f"{what} holds a control character (a NUL?) or a lone surrogate")
    return value


def storable(value: Any) -> Any:
    """`value` (parsed JSON) with each NUL or lone surrogate in a string or key replaced by U+FFFD (see above)."""
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value
