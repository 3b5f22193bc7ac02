"""In production the serve endpoint refuses a signed request that is stale, undated, from the future or replayed.

The SDK (0.5.19) verifies the HMAC but never the timestamp's age: every case below ran its step before.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import SignedRequestSeen
from jobs.serve import MAX_SIGNATURE_AGE, forget_stale_signatures
from tests.jobs.urls_production import call_body, sign

pytestmark = pytest.mark.django_db

URL = "/api/inngest?fnId=nurturehub-contact-category-assigned&stepId=step"


@pytest.fixture(autouse=True)
def production_urls(settings):
    settings.ROOT_URLCONF = "tests.jobs.urls_production"


def _post(client, *, timestamp: str | None, url: str = URL):
    body = call_body()
    return client.post(
        url,
        data=body,
        content_type="application/json",
        headers={"X-Inngest-Signature": sign(body, timestamp=timestamp)},
    )


def _ran(response) -> bool:
    """The step ran: the function refused the empty payload itself (a 500 non_retriable_error, not a 401)."""
    return response.status_code == 500 and response.json()["code"] == "non_retriable_error"


@pytest.mark.parametrize(
    "timestamp",
    [
        str(int(time.time()) - 3600),  # an hour old
        str(int(time.time()) - 30 * 86400),  # 30 days old
        str(int(time.time()) + 3600),  # from the future
        "0",
        None,  # no timestamp at all
        "yesterday",
    ],
    ids=["hour-old", "30-days-old", "future", "t=0", "no-t", "not-a-number"],
)
def test_a_stale_or_undated_signature_is_refused_before_the_step_runs(client, timestamp):
    response = _post(client, timestamp=timestamp)
    assert response.status_code == 401, response.content
    assert not SignedRequestSeen.objects.exists()


def test_a_fresh_signature_runs_once_and_its_replay_is_refused(client):
    stamp = str(int(time.time()))
    first = _post(client, timestamp=stamp)
    again = _post(client, timestamp=stamp)
    assert _ran(first), first.content
    assert again.status_code == 401 and "replay" in again.json()["error"]


def test_the_same_signed_body_for_another_step_is_not_a_replay(client):
    """Inngest may call two planned steps of one run with the same body in the same second: only the query
    (stepId) tells them apart, so it is part of what makes a request the same."""
    stamp = str(int(time.time()))
    assert _ran(_post(client, timestamp=stamp, url=URL))
    assert _ran(_post(client, timestamp=stamp, url=URL.replace("stepId=step", "stepId=other-step")))


def test_replay_records_older_than_the_window_are_forgotten():
    now = timezone.now()
    SignedRequestSeen.objects.create(digest="a" * 64, seen_at=now - 3 * MAX_SIGNATURE_AGE)
    SignedRequestSeen.objects.create(digest="b" * 64, seen_at=now - timedelta(seconds=10))
    assert forget_stale_signatures(now=now) == 1
    assert list(SignedRequestSeen.objects.values_list("digest", flat=True)) == ["b" * 64]
