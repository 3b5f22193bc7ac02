"""timers_next_due (queries.sql) reads every timer through an index, on tables with many rows (migration 0014).

The dispatcher reads it at every idle refresh and every BUSY_RECHECK_SECONDS while claiming, so a sequential scan
of the queue or of the run history would cost in proportion to everything ever stored. The tables are filled with
generate_series, analysed, and the plan is read: each part must use its index, none may scan a whole table.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.utils import timezone

from jobs.engine.models import App, Function, QueueItem, Run
from jobs.engine.queries import statement

pytestmark = pytest.mark.django_db

ROWS = 40_000


def _fill(function: Function) -> None:
    runs, items = Run._meta.db_table, QueueItem._meta.db_table
    with connection.cursor() as cursor:
        # Mostly finished history, a few unfinished runs (queued, started or not).
        cursor.execute(
            f"""INSERT INTO {runs} (run_id, function_id, events, status, concurrency, force_step_plan,
                                    request_version, steps_done, created_at, started_at)
                SELECT 'r' || n, %s, '[]', CASE WHEN mod(n, 1000) = 0 THEN 'queued' WHEN mod(n, 1000) = 1 THEN 'running'
                                                ELSE 'completed' END,
                       '[]', false, -1, 0, now() - n * interval '1 second',
                       CASE WHEN mod(n, 2000) = 0 THEN NULL ELSE now() - n * interval '1 second' END
                  FROM generate_series(1, %s) n""",  # noqa: S608 (a model's table name)
            [function.pk, ROWS],
        )
        # Many items: most leased (in flight) or due in the past, some sleeping into the future.
        cursor.execute(
            f"""INSERT INTO {items} (run_id, function_id, step_id, step_name, parallel_mode, attempt, max_attempts,
                                     queue_key, priority, key1, limit1, key2, limit2, available_at, factor, order_at,
                                     lease_owner, lease_expires_at, generation, created_at)
                SELECT r.id, r.function_id, 'step', '', '', 0, 1, 'f:' || mod(r.id, 50), 1, '', 0, '', 0,
                       now() + (mod(r.id, 600) - 300) * interval '1 second', 0, now(),
                       CASE WHEN mod(r.id, 3) = 0 THEN 'd/1' END,
                       CASE WHEN mod(r.id, 3) = 0 THEN now() + interval '30 s' END,
                       0, now()
                  FROM {runs} r""",  # noqa: S608 (a model's table name)
        )
        cursor.execute(f"ANALYZE {runs}")
        cursor.execute(f"ANALYZE {items}")


def _plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def test_every_timer_is_read_through_an_index():
    app = App.objects.create(name="many", url="http://many")
    function = Function.objects.create(
        app=app, slug="many-fn", step_url="http://many", config={"timeouts": {"start": "1m", "finish": "1h"}}
    )
    _fill(function)
    now = timezone.now()
    params = {"now": now, "since": now, "scale": 1.0}
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement("timers_next_due"), params)
        (plan,) = cursor.fetchone()
    nodes = _plan_nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    used = {node["Index Name"] for node in nodes if "Index Name" in node}
    scanned = {node["Relation Name"] for node in nodes if node["Node Type"] == "Seq Scan"}

    assert {"engine_item_due", "engine_item_leased", "engine_run_unstarted", "engine_run_started_open"} <= used
    assert not scanned & {Run._meta.db_table, QueueItem._meta.db_table}
