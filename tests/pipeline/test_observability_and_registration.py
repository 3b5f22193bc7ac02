"""Every log line inside a run names its run, function, step, attempt and tenant; every function is registered
with its category's retries and the per-tenant concurrency key."""

from __future__ import annotations

import json
import logging

import inngest.django
import pytest
from django.utils import timezone
from werkzeug import Request, Response

from jobs.client import _build
from jobs.events import NurtureSequenceGenerate
from jobs.functions import ALL_FUNCTIONS
from jobs.observability import StructuredFormatter
from jobs.policy import FunctionCategory, policy_for
from tests.fakes.openai_server import Scripted
from tests.pipeline.engine_pipeline import wire_event


@pytest.mark.django_db(transaction=True)
def test_log_lines_in_a_run_carry_run_function_step_attempt_and_tenant(
    pipeline, tenant, make_contact, openai_server, caplog
):
    contact = make_contact(tenant=tenant, category="buyer")
    openai_server.then(Scripted("server_error"))
    event = wire_event(
        NurtureSequenceGenerate(
            tenant_id=tenant.id,
            contact_id=contact.id,
            category="buyer",
            brand_voice="Calm.",
            assignment_id=1,
            source="api",
            triggered_at=timezone.now(),
        )
    )

    with caplog.at_level(logging.INFO):
        run = pipeline.run("nurture-sequence-generate", event)

    assert run.status == "completed"
    failed = [record for record in caplog.records if record.getMessage() == "step failed"]
    assert len(failed) == 1
    line = json.loads(StructuredFormatter().format(failed[0]))
    assert line["run_id"] == run.run_id
    assert line["function"] == "nurture-sequence-generate"
    assert line["step"] == "call-ai-api"
    assert line["attempt"] == 0
    assert line["tenant"] == str(tenant.id)
    assert line["decision"] == "RetryAfterError"
    # A library's own line (the HTTP client's) carries the same context, from the retried attempt.
    http_lines = [r for r in caplog.records if "chat/completions" in r.getMessage()]
    assert [(r.step, r.attempt, r.run_id) for r in http_lines] == [
        ("call-ai-api", 0, run.run_id),
        ("call-ai-api", 1, run.run_id),
    ]


def test_outside_a_run_lines_have_no_run_fields():
    record = logging.getLogger("tests").makeRecord("tests", logging.INFO, __file__, 1, "hello", None, None)
    line = json.loads(StructuredFormatter().format(record))
    assert "run_id" not in line and "tenant" not in line and line["msg"] == "hello"


CATEGORIES = {
    "nurturehub-contact-category-assigned": FunctionCategory.ROUTING,
    "nurturehub-nurture-sequence-generate": FunctionCategory.AI,
    "nurturehub-crm-sync-push": FunctionCategory.CRM,
    "nurturehub-lead-intent-score": FunctionCategory.SCORING,
    "nurturehub-alert-hot-lead-fire": FunctionCategory.ALERT,
}


def test_sync_registers_each_pipeline_function_with_its_policy(client, settings, httpserver):
    registered: list[dict] = []

    def register(request: Request) -> Response:
        registered.append(json.loads(request.data))
        return Response(json.dumps({"ok": True, "modified": True}), content_type="application/json")

    httpserver.expect_request("/fn/register", method="POST").respond_with_handler(register)
    dev_client = _build(("nurturehub", True, httpserver.url_for("/").rstrip("/"), "", ""))
    settings.ROOT_URLCONF = type("Urls", (), {"urlpatterns": [inngest.django.serve(dev_client, ALL_FUNCTIONS)]})

    assert client.put("/api/inngest", headers={"X-Inngest-Server-Kind": "dev"}).status_code == 200

    functions = {fn["id"]: fn for fn in registered[0]["functions"]}
    for function_id, category in CATEGORIES.items():
        policy = policy_for(category)
        config = functions[function_id]
        assert config["concurrency"] == [{"key": "event.data.tenantId", "limit": policy.tenant_concurrency}]
        step = next(iter(config["steps"].values()))
        assert step["retries"]["attempts"] == policy.retries, function_id
        # Every function has an on_failure handler (the run-failure recorder at least).
        assert f"{function_id}-failure" in functions
    cron = functions["nurturehub-intent-score-decay"]
    assert cron["triggers"] == [{"cron": "0 2 * * *"}]
    assert next(iter(cron["steps"].values()))["retries"]["attempts"] == policy_for(FunctionCategory.SCORING).retries
    assert "nurturehub-intent-score-decay-failure" in functions
