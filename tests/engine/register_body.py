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
