"""Prepared statements (settings.py DATABASE_PREPARED_STATEMENTS): what the engine's SQL relies on under them.

Server-side binding sends a statement with parameters through the extended protocol, one statement only, and psycopg
keeps a statement prepared once it has run `prepare_threshold` times on a connection, so PostgreSQL stops planning it.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from jobs.engine.models import App, Function, QueueItem, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.queries import several, statement
from jobs.engine.services.answer_rows import item_lock
from jobs.engine.services.claims import queue_claim
from jobs.engine.services.intake import system_events_store
from tests.waiting import while_one_holds_a_lock_another_waits

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


@pytest.mark.parametrize("change", ["run", "lease"])
def test_the_item_lock_waits_for_the_run_and_reads_what_its_holder_committed(change):
    """A run locked by another transaction: the lock waits, then reads the run as committed, and checks the item's
    lease again as committed (a statement's snapshot predates the wait; the rows it returns must not)."""
    item = _leased_item()
    holding, release = threading.Event(), threading.Event()

    def hold_the_run_and_change_it() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM engine_run WHERE id = %s FOR UPDATE", [item.run_id])
                if change == "run":
                    cursor.execute("UPDATE engine_run SET steps_done = 7 WHERE id = %s", [item.run_id])
                else:
                    cursor.execute("UPDATE engine_queueitem SET lease_owner = 'other' WHERE id = %s", [item.pk])
                holding.set()
                assert release.wait(60)
        finally:
            connections.close_all()

    locked: list[QueueItem | None] = []

    def lock_the_item() -> None:
        try:
            with transaction.atomic():
                locked.append(item_lock(item_id=item.pk, owner="test"))
        finally:
            connections.close_all()

    while_one_holds_a_lock_another_waits(hold_the_run_and_change_it, lock_the_item, holding=holding, release=release)

    if change == "run":
        assert locked[0] is not None and locked[0].run.steps_done == 7
    else:
        assert locked == [None]


def _leased_item() -> QueueItem:
    app = App.objects.create(name="prepared", url="http://prepared/api/inngest")
    function = Function.objects.create(app=app, slug="fn", step_url="http://prepared/api/inngest?fnId=fn")
    Trigger.objects.create(function=function, event_name="prepared/go")
    system_events_store([IncomingEvent("prepared/go", {}, 1, "")], now=timezone.now())
    (claimed,) = queue_claim(owner="test", capacity=1, lease_seconds=60)
    return QueueItem.objects.get(pk=claimed.id)
