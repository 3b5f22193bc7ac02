"""The daily history prune (03:30 UTC): old event log, runs, CRM sync log and engine rows, in batches.

One step per few batches of one table, so a day with millions of rows to go is many short steps, none holding
a transaction long; what a run does not finish (it stops well short of Inngest's 1,000 steps) the next day's
run carries on. The rules of what may go are in `jobs.retention`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import inngest
from django.conf import settings
from django.utils import timezone

from jobs.client import inngest_client
from jobs.observability import run_log_context
from jobs.policy import FunctionCategory, policy_for
from jobs.retention import prune_table, tables
from jobs.serve import forget_stale_signatures
from jobs.steps import policy_step

from .base import with_failure_recorder

PRUNE_FN_ID = "history-prune"
# Maintenance work takes the light routing category's retries (a lost connection is worth retrying).
CATEGORY = FunctionCategory.ROUTING
#: Batches per step, and steps per table per run (6 tables x 150 stays under Inngest's 1,000 steps).
BATCHES_PER_STEP = 10
MAX_STEPS_PER_TABLE = 150


@inngest_client.create_function(
    fn_id=PRUNE_FN_ID,
    name=PRUNE_FN_ID,
    trigger=inngest.TriggerCron(cron="30 3 * * *"),
    on_failure=with_failure_recorder(None),
    retries=policy_for(CATEGORY).retries,
    concurrency=[inngest.Concurrency(limit=1)],  # one prune at a time; a cron event carries no tenant
)
def history_prune(ctx: inngest.ContextSync) -> dict[str, Any]:
    """Daily: delete history older than the retention settings, batch by batch, never what is in progress."""
    with run_log_context(ctx, function=PRUNE_FN_ID, tenant=None):
        started = ctx.step.run("start", lambda: timezone.now().isoformat())
        deleted: dict[str, int] = {}
        for table in [table.name for table in tables()]:
            deleted[table] = 0
            for number in range(MAX_STEPS_PER_TABLE):
                step = policy_step(ctx, f"prune-{table}-{number}", CATEGORY, _prune_step, table, started)
                deleted[table] += step["deleted"]
                if not step["more"]:
                    break
        deleted["signed_requests"] = policy_step(ctx, "prune-signed-requests", CATEGORY, _forget_signatures, started)
        return {"deleted": deleted, "at": started}


def _prune_step(table: str, started: str) -> dict[str, Any]:
    batch_size = settings.JOBS_RETENTION_BATCH_SIZE
    counts = list(
        prune_table(table, now=datetime.fromisoformat(started), batch_size=batch_size, max_batches=BATCHES_PER_STEP)
    )
    return {"deleted": sum(counts), "more": len(counts) == BATCHES_PER_STEP and counts[-1] == batch_size}


def _forget_signatures(started: str) -> int:
    return forget_stale_signatures(now=datetime.fromisoformat(started))
