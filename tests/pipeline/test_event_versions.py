"""A function given an event whose `v` it cannot use (jobs/functions/base.py), through the real serve endpoint."""

from __future__ import annotations

import json
import uuid

import pytest


@pytest.mark.parametrize(
    ("version", "retried", "message"),
    [("x1", False, "not a positive integer"), ("9", True, "version 9 is newer than this catalogue's 1")],
    ids=["malformed-v-fails-at-once", "newer-v-is-retried"],
)
def test_a_function_given_an_event_of_an_unusable_version(pipeline, tenant, version, retried, message):
    """Through the real serve endpoint: a malformed `v` fails the run at once; a `v` newer than the code is
    retried (a rolling deploy may bring the code that knows it), then fails."""
    data = {"tenantId": str(tenant.id), "contactId": str(uuid.uuid4()), "reason": "decay"}
    event = {"name": "lead/intent.score", "data": {**data, "occurredAt": "2026-11-01T09:00:00Z"}, "v": version}

    run = pipeline.run("lead-intent-score", event)

    assert run.status == "failed"
    assert (len(run.failures) > 1) == retried
    assert message in json.dumps([failure.error for failure in run.failures])
