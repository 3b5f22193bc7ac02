"""Pure helpers the providers' `mapping.py` modules share: ids from a Location header and the common shapes of
field-error bodies. Each provider still decides which shapes its CRM uses and what its fallback message is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def id_from_location(location: str | None) -> str | None:
    """A create answered with 201 and the new resource's URL in `Location`: the id is its last segment."""
    if not location:
        return None
    segment = location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return segment or None


def messages_by_field(errors: Mapping[Any, Any], *, prefix: str = "") -> list[dict[str, str]]:
    """.NET's `{field: [messages]}` (or `{field: message}`), one entry per message; `prefix` is cut off fields."""
    return [
        {"field": str(field).removeprefix(prefix), "message": str(message)}
        for field, messages in errors.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]


def listed_errors(
    items: Iterable[Any],
    *,
    field_keys: tuple[str, ...] = ("field",),
    message_keys: tuple[str, ...] = ("message",),
) -> list[dict[str, str]]:
    """A list `[{field, message}]`; each value is the first non-empty of its keys (CRMs name them differently)."""
    return [
        {"field": str(_first(item, field_keys)), "message": str(_first(item, message_keys))}
        for item in items
        if isinstance(item, dict)
    ]


def _first(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((item[key] for key in keys if item.get(key)), "")
