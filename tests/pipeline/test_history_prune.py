"""The daily history prune (03:30 UTC) through the real serve endpoint: batches as steps, in-progress kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from ulid import ULID

from jobs.functions.retention import PRUNE_FN_ID, history_prune
from jobs.models import JobRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_prune_is_declared_daily_at_half_past_three_utc():
    assert [trigger.cron for trigger in history_prune._triggers] == ["30 3 * * *"]


def test_the_cron_prunes_old_finished_runs_batch_by_batch_and_keeps_running_ones(pipeline, settings):
    settings.JOBS_RETENTION_BATCH_SIZE = 2
    old = timezone.now() - timedelta(days=400)
    for status in ["completed"] * 25 + ["running"]:
        JobRun.objects.create(
            run_id=str(ULID()), function_id="lead-intent-score", status=status, started_at=old, finished_at=None
        )

    run = pipeline.fire_cron(PRUNE_FN_ID)

    assert run.status == "completed", run
    # (The prune's own run is tracked too: only the fixture's function is looked at.)
    assert list(JobRun.objects.filter(function_id="lead-intent-score").values_list("status", flat=True)) == ["running"]
    assert run.output["deleted"]["job_runs"] == 25
    # 25 rows in batches of 2 are 13 batches: two steps of up to 10 batches each.
    assert [step for step in run.steps if step.startswith("prune-job_runs-")] == [
        "prune-job_runs-0",
        "prune-job_runs-1",
    ]
