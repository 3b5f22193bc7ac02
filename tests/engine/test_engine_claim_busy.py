"""A claim that finds another claimer holding the claim lock says so (`busy`), so the dispatcher looks again soon
instead of sleeping until its next timer or notification (its poll is a second now, not 50 ms)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connections

from jobs.engine.services.claims import CLAIM_LOCK_ID, queue_claim

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_claim_blocked_by_another_claimer_is_busy_and_an_empty_one_is_not():
    assert queue_claim(owner="d/1", capacity=4, lease_seconds=30).busy is False  # nothing ready: not busy

    params = connections["default"].get_connection_params()
    with psycopg.connect(**params) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK_ID])  # another dispatcher mid-claim
        claimed = queue_claim(owner="d/2", capacity=4, lease_seconds=30)

    assert claimed == [] and claimed.busy is True
    assert queue_claim(owner="d/3", capacity=4, lease_seconds=30).busy is False  # the lock is free again
