"""The engine's wake (`work_notify`, PostgreSQL NOTIFY) is part of the transaction that stores the work: delivered
once when it commits, never before and never on a rollback, and with no statement of its own after the commit.

Counted, not timed: a listener reads every notification up to a sentinel sent after the transaction's end, and
PostgreSQL delivers notifications in commit order, so everything the transaction sent is read before the sentinel.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections, transaction

from jobs.engine.protocol import IncomingEvent
from jobs.engine.services.intake import events_ingest

pytestmark = pytest.mark.django_db(transaction=True)

SENTINEL = "sentinel"


@pytest.fixture
def listener() -> Iterator[psycopg.Connection]:
    params = connections["default"].get_connection_params()
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute("LISTEN engine_work")
        yield conn


def _wakes_until_sentinel(listener: psycopg.Connection) -> int:
    """How many wakes arrived before the sentinel sent now (by another connection, after all that went before)."""
    params = connections["default"].get_connection_params()
    with psycopg.connect(**params, autocommit=True) as sender:
        sender.execute("SELECT pg_notify('engine_work', %s)", [SENTINEL])
    wakes = 0
    for notify in listener.notifies(timeout=60):  # the bound only ends a hung test: the sentinel always comes
        if notify.payload == SENTINEL:
            return wakes
        wakes += 1
    raise AssertionError("the sentinel never arrived")


def _event(n: int) -> IncomingEvent:
    return IncomingEvent("notify/test", {"n": n}, 1_764_000_000_000, "")


def test_the_wake_is_sent_inside_the_intakes_transaction_and_nothing_runs_after_its_commit():
    outside: list[str] = []

    def record(execute, sql, params, many, context):
        if not connection.in_atomic_block:
            outside.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        events_ingest(events=[_event(1)])

    assert outside == []


def test_one_transaction_wakes_once_and_only_when_it_commits(listener):
    with transaction.atomic():
        events_ingest(events=[_event(1)])
        events_ingest(events=[_event(2)])
        assert _wakes_until_sentinel(listener) == 0  # still open: nothing delivered

    assert _wakes_until_sentinel(listener) == 1  # two places asked; PostgreSQL sends one per transaction


def test_a_rolled_back_transaction_wakes_nobody(listener):
    with pytest.raises(RuntimeError), transaction.atomic():
        events_ingest(events=[_event(1)])
        raise RuntimeError("rolled back")

    assert _wakes_until_sentinel(listener) == 0
