"""Prepared statements (settings.py DATABASE_PREPARED_STATEMENTS): what the engine's SQL relies on under them.

Server-side binding sends a statement with parameters through the extended protocol, one statement only, and psycopg
keeps a statement prepared once it has run `prepare_threshold` times on a connection, so PostgreSQL stops planning it.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from jobs.engine.queries import several, statement
from jobs.engine.services.answer_rows import item_lock

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_database_binds_on_the_server_and_prepares_a_statement_run_five_times():
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    sql = statement("fence_holds")
    with connection.cursor() as cursor:
        for _ in range(6):
            cursor.execute(sql, [0, "no-token", 0, "step", "2026-01-01T00:00:00Z"])
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("FROM engine_queueitem" in text and "$1" in text for text in prepared), prepared


def test_several_statements_with_values_go_in_one_simple_query_with_the_values_quoted():
    hostile = "owner'; DROP TABLE engine_run; --"
    sql = several("SELECT %s::text; SELECT %s::int + 1", [hostile, 41])
    with connection.cursor() as cursor:
        cursor.execute(sql)
        assert cursor.fetchone() == (hostile,)
        cursor.nextset()
        assert cursor.fetchone() == (42,)
        cursor.execute("SELECT to_regclass('engine_run') IS NOT NULL")
        assert cursor.fetchone() == (True,)


def test_the_item_lock_runs_its_two_statements_under_server_side_binding():
    # Sent with its values bound by the server, the two-statement lock was refused ("cannot insert multiple
    # commands into a prepared statement"), and every answer with it.
    with transaction.atomic():
        assert item_lock(item_id=0, owner="nobody") is None
