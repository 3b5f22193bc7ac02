"""In production the serve endpoint refuses a signed request that is stale, undated, from the future or replayed.

The SDK (0.5.19) verifies the HMAC but never the timestamp's age: every case below ran its step before.
"""

from __future__ import annotations

import json
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


def test_two_steps_called_in_the_same_second_are_not_a_replay(client):
    """Inngest may call two planned steps of one run in the same second; the body's `ctx.step_id` tells them
    apart, and it is signed."""
    stamp = str(int(time.time()))
    for step in ("step", "other-step"):
        body = call_body(step_id=step)
        response = client.post(
            URL.replace("stepId=step", f"stepId={step}"),
            data=body,
            content_type="application/json",
            headers={"X-Inngest-Signature": sign(body, timestamp=stamp)},
        )
        assert _ran(response), response.content


def _respelled_body(body: bytes) -> bytes:
    """The same JSON, spelled differently (keys reversed, spaces): its canonical form, which is signed, is unchanged."""
    return json.dumps(dict(reversed(json.loads(body).items())), indent=3).encode()


def _header_fields(header: str) -> dict[str, str]:
    return dict(field.split("=", 1) for field in header.split("&"))


RESPELLINGS = {
    # the URL: not signed, so none of it may make a request new
    "query-reordered": lambda url, header, body: (
        "/api/inngest?stepId=step&fnId=nurturehub-contact-category-assigned",
        header,
        body,
    ),
    "extra-query-param": lambda url, header, body: (url + "&again=1", header, body),
    "query-percent-encoded": lambda url, header, body: (url.replace("-", "%2D"), header, body),
    "other-step-in-query": lambda url, header, body: (url.replace("stepId=step", "stepId=other"), header, body),
    # the header: the same t and s, written another way
    "fields-reordered": lambda url, header, body: (
        url,
        "s={s}&t={t}".format(**_header_fields(header)),
        body,
    ),
    "extra-field": lambda url, header, body: (url, header + "&v=1", body),
    "t-with-leading-zero": lambda url, header, body: (url, header.replace("t=", "t=0"), body),
    "t-with-space-as-plus": lambda url, header, body: (url, header.replace("t=", "t=+"), body),
    "second-t-ignored": lambda url, header, body: (url, header + "&t=1", body),
    "hex-upper-case": lambda url, header, body: (
        url,
        "t={t}&s={upper}".format(upper=_header_fields(header)["s"].upper(), **_header_fields(header)),
        body,
    ),
    # the body: signed in its canonical form, so a re-spelled one still verifies
    "body-respelled": lambda url, header, body: (url, header, _respelled_body(body)),
    "body-and-header-respelled": lambda url, header, body: (url, header + "&v=1", _respelled_body(body)),
}


@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
def test_a_respelled_copy_of_a_signed_request_is_refused_as_a_replay(client, respell):
    body = call_body()
    header = sign(body, timestamp=str(int(time.time())))
    first = client.post(URL, data=body, content_type="application/json", headers={"X-Inngest-Signature": header})
    assert _ran(first), first.content
    url, header, body = respell(URL, header, body)
    again = client.post(url, data=body, content_type="application/json", headers={"X-Inngest-Signature": header})
    assert again.status_code == 401, again.content
    assert "replay" in again.json()["error"]


def test_replay_records_older_than_the_window_are_forgotten():
    now = timezone.now()
    SignedRequestSeen.objects.create(digest="a" * 64, seen_at=now - 3 * MAX_SIGNATURE_AGE)
    SignedRequestSeen.objects.create(digest="b" * 64, seen_at=now - timedelta(seconds=10))
    assert forget_stale_signatures(now=now) == 1
    assert list(SignedRequestSeen.objects.values_list("digest", flat=True)) == ["b" * 64]
