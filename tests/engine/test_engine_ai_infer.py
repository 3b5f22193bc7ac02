"""step.ai.infer through the real engine: the engine makes the provider request and stores its answer as the memo."""

from __future__ import annotations

import pytest

from jobs.engine.models import GatewayRequest, Run, RunSpan, StepMemo
from jobs.engine.services.claims import queue_claim

from .delayed_functions import DELAYED_SERVE_PATH

pytestmark = [pytest.mark.urls("tests.engine.delayed_urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ai_engine(engine, openai_server):
    engine.start_dispatcher(app_urls=[f"{engine.url}{DELAYED_SERVE_PATH}"])
    return engine


def _memo(run: Run) -> dict:
    return StepMemo.objects.get(run=run, name="ask-the-model").memo


def test_the_providers_answer_is_the_steps_memo_and_the_run_goes_on(ai_engine, openai_server, recorder):
    ai_engine.send("test/ai.infer", {"firstName": "Ada"})

    (run,) = ai_engine.wait_for_runs("-ai-infer", 1)

    assert run.status == Run.Status.COMPLETED, run.error
    (request,) = openai_server.requests
    assert request["model"] == "gpt-4o-mini"  # the adapter filled it in; the fake checked the Bearer key
    memo = _memo(run)
    assert memo["data"]["id"] == "chatcmpl-fake1" and memo["data"]["object"] == "chat.completion"
    assert "Ada" in run.output["content"]
    assert [e["step"] for e in recorder.executions] == ["after-infer"]
    assert not GatewayRequest.objects.exists()  # the request (and its key) is gone once the memo is stored


def test_a_provider_error_is_retried_as_a_step_and_the_retry_succeeds(ai_engine, openai_server):
    openai_server.then("server_error")
    ai_engine.send("test/ai.infer", {"firstName": "Ada"})

    (run,) = ai_engine.wait_for_runs("-ai-infer", 1)

    assert run.status == Run.Status.COMPLETED, run.error
    assert openai_server.answered == {"server_error": 1, "ok": 1}
    spans = list(RunSpan.objects.filter(run=run, op="AIGateway").order_by("started_at", "id"))
    assert [(span.status, span.attempt) for span in spans] == [("retrying", 0), ("completed", 1)]
    assert spans[0].error["name"] == "AIGatewayError"
    assert "unsuccessful status code: 500" in spans[0].error["message"]


def test_a_provider_error_on_the_last_attempt_is_the_steps_error_and_fails_the_run(ai_engine, openai_server, recorder):
    openai_server.then("server_error", "server_error")  # the function has retries=1: two attempts
    ai_engine.send("test/ai.infer", {"firstName": "Ada"})

    (run,) = ai_engine.wait_for_runs("-ai-infer", 1)

    assert run.status == Run.Status.FAILED
    assert openai_server.answered == {"server_error": 2}
    error = _memo(run)["error"]
    assert error["name"] == "AIGatewayError"
    assert error["data"]["error"]["type"] == "server_error"  # the provider's body, for the function to read
    assert recorder.executions == []  # the SDK raised the step's error: nothing after the step ran


@pytest.mark.parametrize(
    ("fmt", "url", "header", "value"),
    [
        ("openai-chat", "https://p.example/v1/chat/completions", "Authorization", "Bearer k-1"),
        ("anthropic", "https://p.example/v1/messages", "X-Api-Key", "k-1"),
        ("bedrock", "https://p.example/model/x/invoke", "Authorization", "k-1"),
        ("gemini", "https://p.example/v1beta/models/g:generateContent?alt=json&key=k-1", None, None),
    ],
)
def test_the_provider_request_carries_the_key_as_inngests_gateway_does(fmt, url, header, value):
    from jobs.engine.ai_gateway import provider_request

    base = url.split("?")[0] + ("?alt=json" if fmt == "gemini" else "")
    opts = {"url": base, "auth_key": "k-1", "format": fmt, "headers": {"x-my-header": "v"}, "body": {"a": 1}}

    sent_url, headers, content = provider_request(opts)

    assert sent_url == url
    assert headers["Content-Type"] == "application/json" and headers["X-My-Header"] == "v"
    if header:
        assert headers[header] == value
    assert content == b'{"a": 1}'


def test_the_provider_request_holds_the_runs_concurrency_slot_like_a_step(ai_engine, openai_server):
    openai_server.hold()
    ai_engine.send("test/ai.infer.limited", {"tenantId": "t-1", "firstName": "Ada"})
    openai_server.wait_for_in_flight({"": 1})
    ai_engine.send("test/ai.infer.limited", {"tenantId": "t-1", "firstName": "Bob"})

    # The limit is 1 per tenant and the first run's provider request is in flight: nothing of t-1 may be claimed.
    claimed = queue_claim(owner="probe/1", capacity=10, lease_seconds=5)
    openai_server.release()

    assert claimed == []
    runs = ai_engine.wait_for_runs("-ai-infer-limited", 2)
    assert {run.status for run in runs} == {Run.Status.COMPLETED}
    assert openai_server.max_in_flight == 1
