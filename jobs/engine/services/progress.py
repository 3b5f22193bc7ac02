"""Moving a run on: the answer being applied, and what follows a finished or failed step attempt.

The core's part that features build on (ai_gateway.py answers its own items with it): the state of one answer
(`Answer`), the delay before a failed attempt is retried (`retry_delay`) and the step-done path (`step_done`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clock import scaled
from ..models import QueueItem, Run
from ..outcomes import CallResponse, Outcome, Result
from ..protocol import backoff_delay, parse_retry_after
from ..trace import Span
from .answer_rows import item_delete, item_to_discovery, run_save_progress


@dataclass
class Answer:
    """One answer being applied: the locked item and run, and the spans it adds to the trace."""

    item: QueueItem
    run: Run
    response: CallResponse
    now: datetime
    spans: list[Span] = field(default_factory=list)
    request_version_unsaved: bool = False  # the run took the SDK's request version; not yet written

    def span(self, *, op: str, status: str, step_id: str = "", step_name: str = "", **fields: Any) -> None:
        self.spans.append(
            Span(
                step_id=step_id,
                step_name=step_name,
                op=op,
                attempt=fields.pop("attempt", self.item.attempt),
                status=status,
                http_status=self.response.status,
                started_at=self.response.started_at or self.now,
                ended_at=self.now,
                **fields,
            )
        )

    def step_span_ids(self) -> tuple[str, str]:
        """The targeted step's ids for a function-level answer to a step request; blank for discovery."""
        if self.item.is_discovery:
            return "", ""
        return self.item.step_id, self.item.step_name


def retry_delay(failed_attempt: int, response: CallResponse, *, now: datetime) -> timedelta:
    delay = parse_retry_after(response.retry_after, now=now) or backoff_delay(failed_attempt, rng=random.Random())  # noqa: S311
    return scaled(delay)


def step_done(run: Run, item: QueueItem, step_name: str, *, now: datetime) -> Outcome:
    # Only a planned (targeted) step can have siblings still pending; discovery never runs beside them.
    pending_siblings = (
        not item.is_discovery
        and QueueItem.objects.filter(run=run).exclude(pk=item.pk).exclude(step_id=QueueItem.DISCOVERY).exists()
    )
    if item.parallel_mode != "race" and pending_siblings:
        item_delete(item)  # wait mode: the last sibling to finish enqueues discovery
    else:
        if not pending_siblings:
            run.force_step_plan = False
        if item.parallel_mode == "race" and QueueItem.objects.filter(run=run, step_id=QueueItem.DISCOVERY).exists():
            item_delete(item)
        else:
            item_to_discovery(item, available_at=now)
    run_save_progress(run)
    return Outcome(Result.STEP, step=step_name)
