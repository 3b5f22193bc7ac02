"""The engine's raw SQL, as named statements read once from queries.sql (Procrastinate keeps its own the same way).

Each statement in queries.sql is `-- name: <name>`, a one-line `-- ` comment saying what it does, then the SQL.
Table names are never written out: a model's name in backticks (`QueueItem`) becomes its `_meta.db_table`, and
`columns(Model, alias)` in backticks becomes every concrete column of the model, in `_meta` order, behind `alias.`
(the order rows.model_from_row reads them back in), and `include(name)` in backticks becomes the SQL of a statement
defined above it (a part several statements share, such as the trace spans' insert, is written once). Backticks
mean nothing to PostgreSQL (outside a string or a quoted name they are a syntax error) and nothing to psycopg,
whose parameters keep their `%s` / `%(name)s` form, so a placeholder can never be mistaken for either, nor for
braces in a JSON or array literal.

Modules look their statements up at import (`_X_SQL = statement("x")`): a misspelt name, an unknown model or any
other placeholder stops the import with the file's line; tests/engine/test_engine_queries.py checks that every
statement is used. `fetch_rows` / `fetch_row` read results into named tuples (or dataclasses) by column name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from django.db import connection, models

from .gate_models import GcraKey, RunSingleton, SkippedRun
from .models import (
    App,
    Event,
    EventIdempotency,
    Function,
    GatewayRequest,
    KeyQueue,
    Pause,
    PendingBatch,
    PendingDebounce,
    QueueItem,
    Run,
    RunSpan,
    StepMemo,
    Trigger,
)

QUERY_FILE = Path(__file__).with_name("queries.sql")
R = TypeVar("R")
MODELS: dict[str, type[models.Model]] = {
    model.__name__: model
    for model in (
        App,
        Event,
        EventIdempotency,
        Function,
        GatewayRequest,
        GcraKey,
        KeyQueue,
        Pause,
        PendingBatch,
        PendingDebounce,
        QueueItem,
        Run,
        RunSingleton,
        RunSpan,
        SkippedRun,
        StepMemo,
        Trigger,
    )
}

_NAME_LINE = re.compile(r"--\s*name:\s*(?P<name>\S*)\s*$")
_PLACEHOLDER = re.compile(r"`([^`]*)`")
_MODEL = re.compile(r"[A-Z]\w*")
_COLUMNS = re.compile(r"columns\((?P<model>[A-Z]\w*),\s*(?P<alias>[a-z_]\w*)\)")
_INCLUDE = re.compile(r"include\((?P<name>[a-z][a-z0-9_]*)\)")


class QueryFileError(ValueError):
    """queries.sql cannot be read into statements (the message names the line)."""


class UnknownStatement(LookupError):
    """No statement of queries.sql has that name."""


@dataclass(frozen=True)
class Statement:
    name: str
    description: str
    sql: str
    line: int


def parse(text: str, *, source: str = "queries.sql") -> dict[str, Statement]:
    """Statements by name, placeholders filled in; raises QueryFileError for anything it cannot read."""
    statements: dict[str, Statement] = {}
    chunks: list[tuple[str, int, list[tuple[int, str]]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        header = _NAME_LINE.match(line.strip())
        if header:
            chunks.append((header["name"], number, []))
        elif chunks:
            chunks[-1][2].append((number, line))
        elif line.strip() and not line.strip().startswith("--"):
            raise QueryFileError(f"{source}:{number}: SQL before the first `-- name:` line")
    for name, number, lines in chunks:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise QueryFileError(f"{source}:{number}: statement name {name!r} is not snake_case")
        if name in statements:
            raise QueryFileError(f"{source}:{number}: statement {name!r} is defined twice")
        comments = [text.strip() for _, text in lines if text.strip().startswith("--")]
        if not comments or not lines or not lines[0][1].strip().startswith("-- "):
            raise QueryFileError(f"{source}:{number}: statement {name!r} needs a one-line `-- ` description first")
        # Comment lines are documentation, never sent: a `%` in one would read as a psycopg parameter.
        body = [(at, text.rstrip()) for at, text in lines if text.strip() and not text.strip().startswith("--")]
        if not body:
            raise QueryFileError(f"{source}:{number}: statement {name!r} has no SQL")
        sql = "\n".join(_fill(text, statements, source=source, line=at) for at, text in body)
        sql = sql.strip().removesuffix(";")
        statements[name] = Statement(name=name, description=comments[0][3:].strip(), sql=sql, line=number)
    return statements


def _fill(text: str, above: dict[str, Statement], *, source: str, line: int) -> str:
    if text.count("`") % 2:
        raise QueryFileError(f"{source}:{line}: unmatched backtick")
    return _PLACEHOLDER.sub(lambda match: _resolve(match[1], above, source=source, line=line), text)


def _resolve(placeholder: str, above: dict[str, Statement], *, source: str, line: int) -> str:
    include = _INCLUDE.fullmatch(placeholder)
    if include:
        if include["name"] not in above:
            raise QueryFileError(f"{source}:{line}: `{placeholder}` names no statement defined above it")
        return above[include["name"]].sql
    if _MODEL.fullmatch(placeholder):
        return _model(placeholder, source=source, line=line)._meta.db_table
    columns = _COLUMNS.fullmatch(placeholder)
    if columns:
        fields = _model(columns["model"], source=source, line=line)._meta.concrete_fields
        return ", ".join(f"{columns['alias']}.{field.column}" for field in fields)
    raise QueryFileError(
        f"{source}:{line}: unknown placeholder `{placeholder}` (a model name such as `QueueItem`,"
        " `columns(Model, alias)` or `include(statement)`)"
    )


def _model(name: str, *, source: str, line: int) -> type[models.Model]:
    if name not in MODELS:
        raise QueryFileError(f"{source}:{line}: unknown model `{name}` (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


STATEMENTS = parse(QUERY_FILE.read_text(), source=str(QUERY_FILE.name))
_used: set[str] = set()


def statement(name: str) -> str:
    """The SQL of a named statement; call it at import so that a wrong name fails then, not at run time."""
    if name not in STATEMENTS:
        raise UnknownStatement(f"no statement named {name!r} in {QUERY_FILE.name}")
    _used.add(name)
    return STATEMENTS[name].sql


def unused() -> list[str]:
    """Statements no module has asked for (after every engine module is imported: tests check it is empty)."""
    return sorted(set(STATEMENTS) - _used)


def several(sql: str, params: list[Any]) -> str:
    """`sql`, several statements, with `params` bound client-side: one simple Query, one round trip.

    With server-side binding (settings.py, DATABASE_PREPARED_STATEMENTS) a statement with parameters is sent with
    the extended protocol, which takes one statement only ("cannot insert multiple commands into a prepared
    statement"); a string without parameters goes as a simple Query, whose statements PostgreSQL runs one after
    the other, in order. psycopg's ClientCursor quotes the values as Django's default cursor would have; each
    string differs by its values, so psycopg never tries to prepare it.
    """
    connection.ensure_connection()
    return psycopg.ClientCursor(connection.connection).mogrify(sql, params)


def fetch_rows(cursor: Any, row_type: type[R]) -> list[R]:
    """The cursor's rows as `row_type` (a NamedTuple or dataclass), read by column name: the statement's column
    names must be the type's fields, in order, or this raises (a column added or moved is caught, not misread)."""
    _check_columns(cursor, row_type)
    return [row_type(*values) for values in cursor.fetchall()]


def fetch_row(cursor: Any, row_type: type[R]) -> R | None:
    """The cursor's next row as `row_type` (see `fetch_rows`), or None."""
    _check_columns(cursor, row_type)
    values = cursor.fetchone()
    return None if values is None else row_type(*values)


def _check_columns(cursor: Any, row_type: type) -> None:
    names = tuple(column.name for column in cursor.description)
    expected = row_type._fields if hasattr(row_type, "_fields") else tuple(f.name for f in fields(row_type))
    if names != expected:
        raise TypeError(f"{row_type.__name__} expects the columns {expected}; the statement returned {names}")
