"""The engine's named SQL statements (jobs/engine/queries.sql), read by jobs/engine/queries.py."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import jobs.engine
from jobs.engine import queries
from jobs.engine.models import QueueItem, Run


def _import_every_engine_module() -> None:
    for module in pkgutil.walk_packages(jobs.engine.__path__, "jobs.engine."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)


def test_every_statement_in_the_file_is_used_by_the_engine():
    _import_every_engine_module()  # each module asks for its statements at import

    assert queries.unused() == []


def test_asking_for_a_statement_the_file_lacks_fails_naming_it():
    with pytest.raises(queries.UnknownStatement, match="no statement named 'item_lokc'"):
        queries.statement("item_lokc")


def test_a_model_name_in_backticks_becomes_its_table_and_columns_its_concrete_columns():
    sql = "SELECT `columns(Run, r)` FROM `QueueItem` i JOIN `Run` r ON r.id = i.run_id"

    parsed = queries.parse(f"-- name: probe\n-- What it does.\n{sql};\n")

    columns = ", ".join(f"r.{field.column}" for field in Run._meta.concrete_fields)
    expected = (
        sql.replace("`columns(Run, r)`", columns)
        .replace("`QueueItem`", QueueItem._meta.db_table)
        .replace("`Run`", Run._meta.db_table)
    )
    assert parsed["probe"].sql == expected
    assert parsed["probe"].description == "What it does."


def test_parameters_braces_and_json_literals_are_left_as_written():
    sql = """SELECT %s, %(name)s, '{"a": {"b": 1}}'::jsonb, '{{1,2},{3,4}}'::int[], x #> '{a}' FROM `Run`"""

    parsed = queries.parse(f"-- name: probe\n-- What it does.\n{sql}\n")

    assert parsed["probe"].sql == sql.replace("`Run`", Run._meta.db_table)


def test_comment_lines_are_not_sent_so_a_percent_in_one_is_no_parameter():
    parsed = queries.parse("-- name: probe\n-- What it does.\nSELECT 1\n-- 100% documentation\nFROM `Run`;\n")

    assert parsed["probe"].sql == f"SELECT 1\nFROM {Run._meta.db_table}"


def test_include_writes_an_earlier_statement_in_place_so_a_shared_part_is_written_once():
    text = (
        "-- name: spans\n-- The part.\nINSERT INTO `Run` (id) SELECT %(run)s;\n"
        "-- name: whole\n-- Uses it.\nWITH spans AS (`include(spans)`) SELECT 1\n"
    )

    parsed = queries.parse(text)

    assert parsed["whole"].sql == f"WITH spans AS (INSERT INTO {Run._meta.db_table} (id) SELECT %(run)s) SELECT 1"


def test_the_spans_insert_is_written_once_and_taken_by_the_statements_that_end_an_answer():
    spans = queries.STATEMENTS["spans_insert"].sql

    for name in ("step_run_inline_done", "run_complete"):
        assert spans in queries.STATEMENTS[name].sql, name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: probe\n-- Reads.\nSELECT * FROM `QueueItems`\n", r"queries.sql:3: unknown model `QueueItems`"),
        (
            "-- name: probe\n-- Reads.\nSELECT `rows(Run, r)` FROM x\n",
            r"queries.sql:3: unknown placeholder `rows\(Run, r\)`",
        ),
        ("-- name: probe\n-- Reads.\nSELECT * FROM `Run\n", r"queries.sql:3: unmatched backtick"),
        (
            "-- name: probe\n-- Reads.\nSELECT 1\n-- name: probe\n-- Again.\nSELECT 2\n",
            r"queries.sql:4: .*defined twice",
        ),
        ("-- name: probe\nSELECT 1\n", r"queries.sql:1: statement 'probe' needs a one-line `-- ` description"),
        ("-- name: probe\n-- Reads nothing.\n", r"queries.sql:1: statement 'probe' has no SQL"),
        ("SELECT 1\n-- name: probe\n-- Reads.\nSELECT 1\n", r"queries.sql:1: SQL before the first `-- name:` line"),
        ("-- name: Probe-1\n-- Reads.\nSELECT 1\n", r"queries.sql:1: statement name 'Probe-1' is not snake_case"),
        (
            "-- name: whole\n-- Uses a later one.\nWITH s AS (`include(part)`) SELECT 1\n"
            "-- name: part\n-- P.\nSELECT 2\n",
            r"queries.sql:3: `include\(part\)` names no statement defined above it",
        ),
    ],
)
def test_a_file_that_cannot_be_read_into_statements_fails_naming_the_line(text, message):
    with pytest.raises(queries.QueryFileError, match=message):
        queries.parse(text)
