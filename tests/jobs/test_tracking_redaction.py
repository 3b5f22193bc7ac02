"""Run tracking stores an exception's text: a secret the process handled never lands in a run or step row."""

from __future__ import annotations

import base64

from jobs.tracking import describe_error
from nurturehub.redaction import forget_remembered_secrets, remember_secrets

TOKEN = "eyJhbGciOi.bearer-token-0123456789"


def test_an_error_echoing_a_handled_secret_is_stored_redacted():
    remember_secrets([TOKEN])
    try:
        error = RuntimeError(f"upstream said: bad token {TOKEN} ({base64.b64encode(TOKEN.encode()).decode()})")
        _, message, stack = describe_error(error)
    finally:
        forget_remembered_secrets()
    assert "[redacted]" in message
    for text in (message, stack):
        assert TOKEN[:8] not in text and base64.b64encode(TOKEN.encode()).decode()[:8] not in text
