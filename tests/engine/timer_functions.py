"""The timer benchmark's functions (bench/timers.py), served by their own app on their own path (urls_timers.py).

Each returns the wall-clock time of the step that runs when its timer fired, so the benchmark reads lateness
(that time minus the due time) from the run's output, on the machine's one clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import inngest
from django.conf import settings

APP_ID = "timers-bench"
TIMERS_SERVE_PATH = "/api/inngest-timers"
PERIOD = timedelta(seconds=1)  # every debounce, batch and run timeout here is due one second after it starts

client = inngest.Inngest(
    app_id=APP_ID,
    is_production=False,
    api_base_url=settings.INNGEST_BASE_URL,
    event_api_base_url=settings.INNGEST_BASE_URL,
)


def _fired(ctx: inngest.ContextSync) -> float:
    return ctx.step.run("fired", time.time)


def _event(name: str) -> inngest.TriggerEvent:
    return inngest.TriggerEvent(event=f"timers/{name}")


# The baseline: a run's first step, due when its event is received; then the same step behind a debounce and behind
# a batch's timeout (one event per key, so each is a debounce or batch of its own).
immediate = client.create_function(fn_id="immediate", trigger=_event("immediate"), retries=0)(_fired)
debounce = client.create_function(
    fn_id="debounce",
    trigger=_event("debounce"),
    debounce=inngest.Debounce(period=PERIOD, key="event.data.key"),
    retries=0,
)(_fired)
batch = client.create_function(
    fn_id="batch",
    trigger=_event("batch"),
    batch_events=inngest.Batch(max_size=100, timeout=PERIOD, key="event.data.key"),
    retries=0,
)(_fired)


@client.create_function(fn_id="sleep", trigger=_event("sleep"), retries=0)
def sleep(ctx: inngest.ContextSync) -> float:
    ctx.step.sleep_until("nap", datetime.fromtimestamp(float(ctx.event.data["until"]), UTC))
    return _fired(ctx)


@client.create_function(
    fn_id="finish-timeout",
    trigger=_event("finish.timeout"),
    timeouts=inngest.Timeouts(finish=PERIOD),
    retries=0,
)
def finish_timeout(ctx: inngest.ContextSync) -> None:
    ctx.step.sleep("forever", timedelta(hours=1))  # cancelled by its finish timeout long before


@client.create_function(
    fn_id="start-timeout",
    trigger=_event("start.timeout"),
    concurrency=[inngest.Concurrency(key="event.data.key", limit=1)],
    timeouts=inngest.Timeouts(start=PERIOD),
    retries=0,
)
def start_timeout(ctx: inngest.ContextSync) -> None:
    """A `hold` run keeps its key's one slot for that many seconds; the run queued behind it times out."""
    ctx.step.run("hold", lambda: time.sleep(float(ctx.event.data.get("hold", 0))))


TIMER_FUNCTIONS = [immediate, sleep, debounce, batch, finish_timeout, start_timeout]
