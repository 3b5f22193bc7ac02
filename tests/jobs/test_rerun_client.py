"""The rerun request (jobs/rerun.py): where it goes, with what key, and what a refusal or a bad answer says."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from jobs.rerun import RerunError, rerun_url, run_rerun_request


@pytest.fixture
def server():
    with HTTPServer(host="127.0.0.1", port=0) as httpserver:
        yield httpserver


def test_inngest_cloud_is_asked_at_its_v2_api_and_any_other_server_under_api_v2(settings):
    settings.INNGEST_BASE_URL = ""
    assert rerun_url("01RUN") == "https://api.inngest.com/v2/runs/01RUN/rerun"
    settings.INNGEST_BASE_URL = "http://inngest.internal:8288/"
    assert rerun_url("01RUN") == "http://inngest.internal:8288/api/v2/runs/01RUN/rerun"


def test_outside_dev_mode_the_signing_key_is_the_bearer_and_the_new_run_id_is_returned(settings, server):
    settings.INNGEST_BASE_URL = server.url_for("/").rstrip("/")
    settings.INNGEST_DEV = False
    settings.INNGEST_SIGNING_KEY = "signkey-prod-abc123"
    server.expect_request(
        "/api/v2/runs/01RUN/rerun", method="POST", headers={"Authorization": "Bearer signkey-prod-abc123"}
    ).respond_with_json({"data": {"runId": "01NEWRUN"}})

    assert run_rerun_request(run_id="01RUN") == "01NEWRUN"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (501, {"error": "Rerunning cron-triggered runs is not yet supported"}, "HTTP 501: Rerunning cron-triggered"),
        (404, {"error": "Run not found"}, "HTTP 404: Run not found"),
        (200, {"data": {}}, "answered without a run id"),
    ],
)
def test_a_refusal_or_an_answer_without_a_run_id_says_why(settings, server, status, body, message):
    settings.INNGEST_BASE_URL = server.url_for("/").rstrip("/")
    server.expect_request("/api/v2/runs/01RUN/rerun", method="POST").respond_with_data(
        json.dumps(body), status=status, content_type="application/json"
    )

    with pytest.raises(RerunError, match=message):
        run_rerun_request(run_id="01RUN")


def test_an_unreachable_server_says_where_it_was_asked(settings):
    settings.INNGEST_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(RerunError, match="could not be reached"):
        run_rerun_request(run_id="01RUN", timeout=2)
