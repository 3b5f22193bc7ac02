"""Reading rows with raw SQL (the hot paths): column lists from the models' `_meta`, and model instances built
from the values without the ORM's query compiler."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from ..models import Function, QueueItem, Run

ITEM_FIELDS = QueueItem._meta.concrete_fields
RUN_FIELDS = Run._meta.concrete_fields
FUNCTION_FIELDS = Function._meta.concrete_fields


def sql_columns(alias: str, fields: Any) -> str:
    return ", ".join(f"{alias}.{field.column}" for field in fields)


def model_from_row(model: Any, fields: Any, values: tuple) -> Any:
    """A model instance from raw column values (what a compiled ORM query would build, for less CPU)."""
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def json_value(value: Any) -> Any:
    """A json/jsonb column from a raw query: Django registers a text loader for them with psycopg, so parse it."""
    return json.loads(value) if isinstance(value, str | bytes) else value
