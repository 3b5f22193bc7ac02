"""/metrics at scale: the scrape reads no history, and the counting triggers cost the writers little.

1. Scrape time with 200,000 finished runs (and 2,000 unfinished) against the same scrape on an empty history
   (only the unfinished runs), and against the previous collector's query (a GROUP BY over every run), all
   timed in this run. The aim: the scrape does not grow with history (ratio to the empty-history scrape near 1).
2. Writer cost of the triggers: 2,000 single-row StepAttempt inserts (one statement each, as run tracking
   writes them) with the triggers on, against the same inserts with them disabled.
Run: `.venv/bin/python bench/metrics.py` (about a minute; its own database).
"""

from __future__ import annotations

import time

from _setup import best_of, setup_django

HISTORY = 200_000
UNFINISHED = 2_000
INSERTS = 2_000
FUNCTIONS = ["contact-category-assigned", "nurture-sequence-generate", "crm-sync-push", "lead-intent-score"]
OLD_COLLECTOR_QUERY = """
SELECT function_id, status, count(id), sum(attempts) FROM jobs_jobrun GROUP BY function_id, status
"""


def insert_runs(cursor, prefix: str, count: int, statuses: list[str]) -> None:
    cursor.execute(
        """
        INSERT INTO jobs_jobrun (run_id, function_id, event_name, event_id, status, attempts, error_type,
            started_at, updated_at, queue_wait_ms)
        SELECT %s || g, (%s::text[])[1 + g %% 4], 'contact/category.assigned', '',
            (%s::text[])[1 + g %% cardinality(%s::text[])], 0, '',
            now() - make_interval(secs => g), now(), g %% 5000
        FROM generate_series(1, %s) AS g
        """,
        [prefix, FUNCTIONS, statuses, statuses, count],
    )


def main() -> None:
    setup_django("metrics")
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from jobs.models import JobRun, MetricCounter, MetricDelta, StepAttempt

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.DEBUG = False
    client = Client()

    def scrape() -> None:
        assert client.get("/metrics").status_code == 200

    with connection.cursor() as cursor:
        JobRun.objects.all().delete()
        MetricDelta.objects.all().delete()
        MetricCounter.objects.all().delete()
        insert_runs(cursor, "open-", UNFINISHED, ["running", "retrying"])
        cursor.execute("ANALYZE jobs_jobrun")
        scrape()
        empty_history = best_of(7, scrape)
        insert_runs(cursor, "done-", HISTORY, ["completed"])
        cursor.execute("ANALYZE jobs_jobrun")
        scrape()  # rolls up the history's deltas once
        with_history = best_of(7, scrape)
        old_query = best_of(7, lambda: cursor.execute(OLD_COLLECTOR_QUERY) or cursor.fetchall())

    print(f"{'scrape':<58}{'ms':>9}")
    print(f"{'/metrics, ' + format(UNFINISHED, ',') + ' unfinished runs, no history':<58}{empty_history * 1000:>9.1f}")
    print(f"{'/metrics, same + ' + format(HISTORY, ',') + ' finished runs':<58}{with_history * 1000:>9.1f}")
    print(f"{'previous collector: its GROUP BY alone, same table':<58}{old_query * 1000:>9.1f}")
    print(f"ratio with history / without: {with_history / empty_history:.2f} (aim: about 1)")
    print(f"ratio previous GROUP BY alone / new whole scrape: {old_query / with_history:.2f}")

    run = JobRun.objects.filter(status="running").first()

    def inserts(tag: str) -> float:
        start = time.perf_counter()
        for index in range(INSERTS):
            StepAttempt.objects.create(
                run=run,
                step_id=f"{tag}-{index}",
                attempt=1,
                status="completed",
                duration_ms=index % 900,
                started_at=run.started_at,
            )
        return time.perf_counter() - start

    with connection.cursor() as cursor:
        inserts("warm")
        with_triggers = inserts("on")
        cursor.execute("ALTER TABLE jobs_stepattempt DISABLE TRIGGER jobs_stepattempt_inserted_metrics")
        try:
            without_triggers = inserts("off")
        finally:
            cursor.execute("ALTER TABLE jobs_stepattempt ENABLE TRIGGER jobs_stepattempt_inserted_metrics")
    per_insert_on = with_triggers / INSERTS * 1000
    per_insert_off = without_triggers / INSERTS * 1000
    print(
        f"\nStepAttempt insert, one statement each ({INSERTS:,}): with triggers {per_insert_on:.3f} ms, "
        f"without {per_insert_off:.3f} ms, ratio {with_triggers / without_triggers:.2f}"
    )


if __name__ == "__main__":
    main()
