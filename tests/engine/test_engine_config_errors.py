"""One function's invalid config fails that function only: it is stored with its error, shown in the admin and
never started (each event for it is recorded as a skipped run saying why), while the app's other functions sync.
"""

from __future__ import annotations

import httpx
import pytest

from jobs.engine.gate_models import SkippedRun
from jobs.engine.models import Function, Run, Trigger
from jobs.engine.protocol import IncomingEvent
from jobs.engine.services.intake import events_ingest
from tests.engine.register_body import register_body

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]

BAD_KEY = {"concurrency": [{"key": "event.data.id +", "limit": 1}]}
BAD_KEY_MESSAGE = "concurrency key 'event.data.id +' is not valid CEL"


def _sync(live_server, bad: dict) -> httpx.Response:
    body = register_body(live_server)
    good = body["functions"][0]
    body["functions"] = [{**good, "id": "bad-app-good"}, {**good, "id": "bad-app-broken", **bad}]
    return httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30)


def test_one_invalid_function_is_stored_with_its_error_and_the_others_sync(live_server):
    response = _sync(live_server, BAD_KEY)

    assert response.status_code == 200, response.text
    good, broken = Function.objects.get(slug="bad-app-good"), Function.objects.get(slug="bad-app-broken")
    assert good.config_error == ""
    assert BAD_KEY_MESSAGE in broken.config_error
    assert broken.concurrency == []  # nothing of the invalid config is used
    assert list(good.triggers.values_list("event_name", flat=True)) == ["a/b"]


def test_an_event_for_an_invalid_function_starts_no_run_and_is_recorded_as_not_started_with_the_reason(live_server):
    assert _sync(live_server, BAD_KEY).status_code == 200

    events_ingest(events=[IncomingEvent(name="a/b", data={"id": 1}, external_id="", ts=1_700_000_000_000)])

    assert list(Run.objects.values_list("function__slug", flat=True)) == ["bad-app-good"]
    skipped = SkippedRun.objects.get()
    assert skipped.function.slug == "bad-app-broken"
    assert skipped.reason == SkippedRun.Reason.CONFIG_ERROR
    assert BAD_KEY_MESSAGE in skipped.detail
    assert skipped.event.name == "a/b"


def test_a_function_that_turns_invalid_keeps_its_last_valid_config_for_its_runs_and_a_fix_clears_the_error(
    live_server,
):
    valid = {"concurrency": [{"key": "event.data.id", "limit": 2}], "cancel": [{"event": "a/stop"}]}
    assert _sync(live_server, valid).status_code == 200

    assert _sync(live_server, {**BAD_KEY, "triggers": [{"event": "a/b"}, {"cron": "* * * * *"}]}).status_code == 200
    broken = Function.objects.get(slug="bad-app-broken")
    assert BAD_KEY_MESSAGE in broken.config_error
    assert broken.concurrency == [{"scope": "fn", "key": "event.data.id", "limit": 2}]  # runs queued keep these
    assert broken.config["cancel"] == [{"event": "a/stop"}]
    assert not Trigger.objects.filter(function=broken).exclude(cron="").exists()  # its cron would start runs

    assert _sync(live_server, {}).status_code == 200
    assert Function.objects.get(slug="bad-app-broken").config_error == ""


@pytest.mark.parametrize(
    ("body_change", "message"),
    [
        (lambda body: body["functions"].append({"name": "no id"}), "every function needs a string `id`"),
        (lambda body: body["functions"].append(dict(body["functions"][0])), "duplicate function ids: bad-app-fn"),
        (lambda body: body.pop("url"), "needs the app's `url`"),
    ],
    ids=["function-without-id", "duplicate-ids", "no-url"],
)
def test_what_no_function_can_be_stored_under_still_fails_the_whole_sync(live_server, body_change, message):
    body = register_body(live_server)
    body_change(body)

    response = httpx.post(f"{live_server.url}/fn/register", json=body, timeout=30)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Function.objects.count() == 0


@pytest.mark.urls("nurturehub.urls")
def test_the_admin_shows_a_functions_config_error(admin_client, live_server):
    assert _sync(live_server, BAD_KEY).status_code == 200

    page = admin_client.get("/admin/engine/function/").content.decode()

    assert "config error: function &#x27;bad-app-broken&#x27;: concurrency key" in page
    assert page.count("config error:") == 1  # the valid function says "synced"
