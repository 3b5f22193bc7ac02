"""Test-only functions using the run-start and queue options (idempotency, rate limit, throttle, singleton,
priority, timeouts), served by their own app on their own path (tests/engine/urls_gates.py).

They record into the shared RECORDER; a step given `hold` in its event waits at that gate until the test opens it.
"""

from __future__ import annotations

from datetime import timedelta

import inngest
from django.conf import settings

from .functions import RECORDER

GATES_PATH = "/api/inngest-gates"

client = inngest.Inngest(
    app_id="engine-gates",
    is_production=False,
    api_base_url=settings.INNGEST_BASE_URL,
    event_api_base_url=settings.INNGEST_BASE_URL,
)


def _work(ctx: inngest.ContextSync, name: str = "work") -> None:
    data = ctx.event.data

    def body() -> str:
        RECORDER.record(ctx, name, key=data.get("key"), seq=data.get("seq"))
        if data.get("hold") and name == "work":
            RECORDER.hold(str(data["hold"]))
        return name

    ctx.step.run(name, body)


@client.create_function(
    fn_id="idempotent", trigger=inngest.TriggerEvent(event="gates/idempotent"), idempotency="event.data.key", retries=0
)
def idempotent(ctx: inngest.ContextSync) -> None:
    _work(ctx)


@client.create_function(
    fn_id="rate-limited",
    trigger=inngest.TriggerEvent(event="gates/rate.limited"),
    rate_limit=inngest.RateLimit(limit=1, period=timedelta(hours=1), key="event.data.key"),
    retries=0,
)
def rate_limited(ctx: inngest.ContextSync) -> None:
    _work(ctx)


@client.create_function(
    fn_id="throttled",
    trigger=inngest.TriggerEvent(event="gates/throttled"),
    throttle=inngest.Throttle(limit=1, period=timedelta(seconds=60), burst=1, key="event.data.key"),
    retries=0,
)
def throttled(ctx: inngest.ContextSync) -> None:
    _work(ctx)


@client.create_function(
    fn_id="single-skip",
    trigger=inngest.TriggerEvent(event="gates/single.skip"),
    singleton=inngest.Singleton(mode="skip", key="event.data.key"),
    retries=0,
)
def single_skip(ctx: inngest.ContextSync) -> None:
    _work(ctx)


@client.create_function(
    fn_id="single-cancel",
    trigger=inngest.TriggerEvent(event="gates/single.cancel"),
    singleton=inngest.Singleton(mode="cancel", key="event.data.key"),
    retries=0,
)
def single_cancel(ctx: inngest.ContextSync) -> None:
    _work(ctx)
    _work(ctx, "after")


@client.create_function(
    fn_id="prioritized",
    trigger=inngest.TriggerEvent(event="gates/prioritized"),
    concurrency=[inngest.Concurrency(key="event.data.key", limit=1)],
    priority=inngest.Priority(run="event.data.source == 'api' ? 120 : 0"),
    retries=0,
)
def prioritized(ctx: inngest.ContextSync) -> None:
    _work(ctx)


@client.create_function(
    fn_id="start-timeout",
    trigger=inngest.TriggerEvent(event="gates/start.timeout"),
    concurrency=[inngest.Concurrency(limit=1)],
    timeouts=inngest.Timeouts(start=timedelta(seconds=60)),
    retries=0,
)
def start_timeout(ctx: inngest.ContextSync) -> None:
    _work(ctx)


@client.create_function(
    fn_id="finish-timeout",
    trigger=inngest.TriggerEvent(event="gates/finish.timeout"),
    timeouts=inngest.Timeouts(finish=timedelta(seconds=60)),
    retries=0,
)
def finish_timeout(ctx: inngest.ContextSync) -> None:
    _work(ctx)
    _work(ctx, "after")


GATE_FUNCTIONS = [
    idempotent,
    rate_limited,
    throttled,
    single_skip,
    single_cancel,
    prioritized,
    start_timeout,
    finish_timeout,
]
