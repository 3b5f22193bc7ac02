"""The body of a `/fn/register` sync for one function, which a test bends one option at a time."""

from __future__ import annotations


def register_body(live_server, **function_overrides) -> dict:
    """App `bad-app` with one function `bad-app-fn` (one step, served by the live server), `function_overrides`
    replacing or adding that function's keys."""
    url = f"{live_server.url}/api/inngest-test"
    function = {
        "id": "bad-app-fn",
        "name": "fn",
        "triggers": [{"event": "a/b"}],
        "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http", "url": f"{url}?fnId=x"}}},
        **function_overrides,
    }
    return {"appname": "bad-app", "url": url, "framework": "django", "sdk": "py:v0.5.19", "functions": [function]}


def assert_stored_with_config_error(response, slug: str, message: str) -> None:
    """The sync succeeded and the function is stored with its config error, using nothing of that config."""
    from jobs.engine.models import Function, Trigger

    assert response.status_code == 200, response.text
    function = Function.objects.get(slug=slug)
    assert message in function.config_error, function.config_error
    assert function.config == {} and function.concurrency == []
    assert not Trigger.objects.filter(function=function).exclude(cron="").exists()
