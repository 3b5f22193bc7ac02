"""Test-only functions for debounce, event batching and step.ai.infer, served on a path of their own.

They record what each run received in the shared RECORDER (tests/engine/functions.py) so tests count and order.
"""

from __future__ import annotations

import datetime

import inngest
from django.conf import settings
from inngest.experimental import ai

from .functions import RECORDER

APP_ID = "engine-delayed-tests"
DELAYED_SERVE_PATH = "/api/inngest-delayed"

client = inngest.Inngest(
    app_id=APP_ID,
    is_production=False,
    api_base_url=settings.INNGEST_BASE_URL,
    event_api_base_url=settings.INNGEST_BASE_URL,
)


def _record_events(ctx: inngest.ContextSync, function: str) -> None:
    with RECORDER.lock:
        RECORDER.executions.append(
            {"run_id": ctx.run_id, "step": function, "seqs": [event.data.get("seq") for event in ctx.events]}
        )


@client.create_function(
    fn_id="debounced",
    trigger=inngest.TriggerEvent(event="test/debounced"),
    debounce=inngest.Debounce(period=datetime.timedelta(seconds=10), key="event.data.contactId"),
    retries=0,
)
def debounced(ctx: inngest.ContextSync) -> dict:
    _record_events(ctx, "debounced")
    return {"seq": ctx.event.data.get("seq")}


@client.create_function(
    fn_id="debounced-capped",
    trigger=inngest.TriggerEvent(event="test/debounced.capped"),
    # A day's period would hold the run far past any test; the timeout caps the wait from the first event.
    debounce=inngest.Debounce(
        period=datetime.timedelta(days=1), key="event.data.contactId", timeout=datetime.timedelta(seconds=5)
    ),
    retries=0,
)
def debounced_capped(ctx: inngest.ContextSync) -> dict:
    _record_events(ctx, "debounced-capped")
    return {"seq": ctx.event.data.get("seq")}


@client.create_function(
    fn_id="cron-debounced",
    trigger=inngest.TriggerCron(cron="0 3 * * *"),
    debounce=inngest.Debounce(period=datetime.timedelta(seconds=10)),
    retries=0,
)
def cron_debounced(ctx: inngest.ContextSync) -> None:
    _record_events(ctx, "cron-debounced")


@client.create_function(
    fn_id="cron-batched",
    trigger=inngest.TriggerCron(cron="0 3 * * *"),
    batch_events=inngest.Batch(max_size=3, timeout=datetime.timedelta(hours=1)),
    retries=0,
)
def cron_batched(ctx: inngest.ContextSync) -> None:
    _record_events(ctx, "cron-batched")


@client.create_function(
    fn_id="batched",
    trigger=inngest.TriggerEvent(event="test/batched"),
    batch_events=inngest.Batch(max_size=3, timeout=datetime.timedelta(hours=1), key="event.data.tenantId"),
    retries=0,
)
def batched(ctx: inngest.ContextSync) -> dict:
    _record_events(ctx, "batched")
    return {"count": len(ctx.events)}


@client.create_function(
    fn_id="batched-bulk-only",
    trigger=inngest.TriggerEvent(event="test/batched.bulk.only"),
    batch_events=inngest.Batch(max_size=3, timeout=datetime.timedelta(hours=1), if_exp="event.data.source == 'bulk'"),
    retries=0,
)
def batched_bulk_only(ctx: inngest.ContextSync) -> dict:
    _record_events(ctx, "batched-bulk-only")
    return {"count": len(ctx.events)}


def _infer_body(first_name: str) -> dict:
    return {
        "messages": [{"role": "user", "content": f'Write to the contact with first name "{first_name}".'}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "emails", "schema": {"type": "object"}}},
    }


def _infer(ctx: inngest.ContextSync) -> dict:
    adapter = ai.openai.Adapter(
        auth_key=settings.OPENAI_API_KEY, base_url=settings.OPENAI_BASE_URL, model=settings.OPENAI_MODEL
    )
    answer = ctx.step.ai.infer("ask-the-model", adapter=adapter, body=_infer_body(ctx.event.data["firstName"]))
    RECORDER.record(ctx, "after-infer")
    return {"content": answer["choices"][0]["message"]["content"]}


@client.create_function(fn_id="ai-infer", trigger=inngest.TriggerEvent(event="test/ai.infer"), retries=1)
def ai_infer(ctx: inngest.ContextSync) -> dict:
    return _infer(ctx)


@client.create_function(
    fn_id="ai-infer-limited",
    trigger=inngest.TriggerEvent(event="test/ai.infer.limited"),
    concurrency=[inngest.Concurrency(key="event.data.tenantId", limit=1)],
    retries=0,
)
def ai_infer_limited(ctx: inngest.ContextSync) -> dict:
    return _infer(ctx)


DELAYED_FUNCTIONS = [
    debounced,
    debounced_capped,
    cron_debounced,
    cron_batched,
    batched,
    batched_bulk_only,
    ai_infer,
    ai_infer_limited,
]
