"""The local engine keeps an event's `v` and hands it to the functions it runs, as Inngest does (pkg/event's
Event.Map adds "v" when the sender gave one); the SDK's request model keeps it (jobs.inngest_compat)."""

from __future__ import annotations

import httpx
import pytest
from inngest._internal.server_lib.execution_request import ServerRequest

from jobs.engine.models import Event, Run

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def test_a_versioned_event_reaches_the_run_with_its_v_and_an_unversioned_one_without(engine):
    engine.start_dispatcher()
    engine.send("test/three.step", {"n": 1}, v="3")
    engine.send("test/three.step", {"n": 2})

    runs = engine.wait_for_runs("three-step", 2)

    by_n = {run.events[0]["data"]["n"]: run.events[0] for run in runs}
    assert by_n[1]["v"] == "3"
    assert "v" not in by_n[2]
    assert sorted(Event.objects.filter(name="test/three.step").values_list("version", flat=True)) == ["", "3"]
    assert all(run.status == Run.Status.COMPLETED for run in runs)


def test_the_sdk_request_model_keeps_v():
    request = ServerRequest.model_validate(
        {
            "ctx": {"attempt": 0, "disable_immediate_execution": False, "run_id": "r", "stack": {"stack": []}},
            "event": {"name": "a/b", "data": {}, "v": "2"},
            "events": [{"name": "a/b", "data": {}, "v": "2"}],
            "steps": {},
            "use_api": False,
        }
    )
    assert request.event.model_extra == {"v": "2"}


@pytest.mark.parametrize("version", [2, "x" * 65])
def test_a_v_that_is_not_a_short_string_is_refused_with_a_400(live_server, version):
    response = httpx.post(f"{live_server.url}/e/key", json=[{"name": "a/b", "v": version}], timeout=30)
    assert response.status_code == 400
    assert "`v` must be a string" in response.json()["error"]
    assert Event.objects.count() == 0
