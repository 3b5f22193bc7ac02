"""Which runs an event starts, and when: Inngest's wildcard triggers, and an event whose `ts` is in the future.

Events go through the real intake (services.intake.events_ingest) on the real database; functions are synced over
real HTTP. The SDK is never called: what is read is which runs exist and when their first request is due.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from jobs.engine.models import Function, QueueItem, Run
from jobs.engine.protocol import IncomingEvent, datetime_to_ms
from jobs.engine.services.claims import queue_claim
from jobs.engine.services.intake import events_ingest
from tests.engine.register_body import register_body

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]

TRIGGERS = {
    "exact": "app/user.created",
    "dot-wildcard": "app/user.*",
    "slash-wildcard": "app/*",
    "other-app": "billing/*",
}


def _sync(live_server, triggers: dict[str, str]) -> httpx.Response:
    body = register_body(live_server)
    template = body["functions"][0]
    body["functions"] = [{**template, "id": slug, "triggers": [{"event": name}]} for slug, name in triggers.items()]
    return httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30)


def _started_by(name: str) -> list[str]:
    before = set(Run.objects.values_list("id", flat=True))
    events_ingest(events=[IncomingEvent(name=name, data={}, ts=datetime_to_ms(timezone.now()), external_id="")])
    return sorted(Run.objects.exclude(id__in=before).values_list("function__slug", flat=True))


@pytest.mark.parametrize(
    ("event", "started"),
    [
        ("app/user.created", ["dot-wildcard", "exact", "slash-wildcard"]),
        ("app/user.deleted", ["dot-wildcard", "slash-wildcard"]),
        ("app/user", ["slash-wildcard"]),  # `app/user.*` needs a segment after the dot
        ("app/order.placed", ["slash-wildcard"]),
        ("app/user.created.v2", ["dot-wildcard", "slash-wildcard"]),
        ("apps/user.created", []),
    ],
)
def test_a_wildcard_trigger_starts_a_run_for_every_event_its_prefix_names(live_server, event, started):
    assert _sync(live_server, TRIGGERS).status_code == 200

    assert _started_by(event) == started


def test_a_function_matched_by_two_of_its_triggers_starts_once(live_server):
    body = register_body(live_server, triggers=[{"event": "app/*"}, {"event": "app/user.*"}, {"event": "app/user.x"}])
    assert httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30).status_code == 200

    assert _started_by("app/user.x") == ["bad-app-fn"]


@pytest.mark.parametrize("name", ["app/us*", "app/*/x", "*", "app/user.*.created", "app/**"])
def test_a_wildcard_inngest_would_never_match_is_a_config_error(live_server, name):
    assert _sync(live_server, {"odd": name}).status_code == 200

    assert "a wildcard" in Function.objects.get(slug="odd").config_error


@pytest.mark.parametrize("scale", [1.0, 0.001])
def test_an_event_with_a_future_ts_starts_its_runs_at_ts(live_server, settings, scale):
    settings.ENGINE_DELAY_SCALE = scale  # a future ts is a delay like a sleep's: scaled alike
    assert _sync(live_server, {"exact": "app/user.created"}).status_code == 200
    sent_at = timezone.now()
    ahead = timedelta(hours=1)

    events_ingest(
        events=[IncomingEvent(name="app/user.created", data={}, ts=datetime_to_ms(sent_at + ahead), external_id="")]
    )

    item = QueueItem.objects.get()
    assert sent_at + ahead * scale - timedelta(seconds=1) <= item.available_at <= timezone.now() + ahead * scale
    assert queue_claim(owner="test", capacity=5, lease_seconds=30) == []  # not before its time


def test_an_event_with_a_past_ts_starts_its_runs_at_once(live_server):
    assert _sync(live_server, {"exact": "app/user.created"}).status_code == 200
    past = timezone.now() - timedelta(days=3)

    events_ingest(events=[IncomingEvent(name="app/user.created", data={}, ts=datetime_to_ms(past), external_id="")])

    assert [claim.step_id for claim in queue_claim(owner="test", capacity=5, lease_seconds=30)] == [QueueItem.DISCOVERY]
