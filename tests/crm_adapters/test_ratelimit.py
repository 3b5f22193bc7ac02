"""The shared rate limiter (GCRA in PostgreSQL) and the concurrency slots, checked by counts, not by timing."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db

from crm_adapters.errors import CrmRateLimited
from crm_adapters.locks import SlotsExhausted, concurrency_slot
from crm_adapters.models import CrmConnection
from crm_adapters.ratelimit import RateLimit, RateLimitExceeded, rate_limit_pause, rate_limit_reserve
from crm_adapters.services import crm_push_contact
from tenants.models import Contact
from tests.fakes.crm import FakeStreet

pytestmark = pytest.mark.django_db


def test_reservations_are_spaced_by_the_emission_interval():
    limit = RateLimit(requests=10, per_seconds=1)

    waits = [rate_limit_reserve(key="t:spacing", limit=limit, max_wait=5) for _ in range(4)]

    assert waits[0] == 0
    for index in (1, 2, 3):
        assert index * 0.1 - 0.02 < waits[index] <= index * 0.1


def test_a_burst_goes_through_at_once_then_the_rate_applies():
    limit = RateLimit(requests=10, per_seconds=1, burst=3)

    waits = [rate_limit_reserve(key="t:burst", limit=limit, max_wait=5) for _ in range(4)]

    assert waits[:3] == [0, 0, 0]
    assert 0.05 < waits[3] <= 0.1


def test_a_wait_longer_than_allowed_reserves_nothing_and_says_how_long():
    limit = RateLimit(requests=1, per_seconds=10)
    rate_limit_reserve(key="t:full", limit=limit, max_wait=0)

    with pytest.raises(RateLimitExceeded) as first:
        rate_limit_reserve(key="t:full", limit=limit, max_wait=1)
    with pytest.raises(RateLimitExceeded) as second:
        rate_limit_reserve(key="t:full", limit=limit, max_wait=1)

    assert 9 < first.value.retry_after <= 10
    assert second.value.retry_after <= first.value.retry_after  # the refusal did not push the slot further out


def test_limits_are_separate_per_key():
    limit = RateLimit(requests=1, per_seconds=60)
    rate_limit_reserve(key="t:one", limit=limit, max_wait=0)

    assert rate_limit_reserve(key="t:two", limit=limit, max_wait=0) == 0


def test_a_pause_holds_every_caller_back():
    limit = RateLimit(requests=100, per_seconds=1)
    rate_limit_pause(key="t:pause", limit=limit, seconds=30)

    with pytest.raises(RateLimitExceeded) as raised:
        rate_limit_reserve(key="t:pause", limit=limit, max_wait=5)

    assert 29 < raised.value.retry_after <= 30


def test_the_limiter_saturated_gives_a_crm_rate_limited_error(street, connect, make_contact, tenant, settings):
    settings.CRM_RATE_LIMITS = {"street.reads": {"requests": 1, "per_seconds": 60}}
    connection = connect(street)
    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    with pytest.raises(CrmRateLimited) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert 55 < raised.value.retry_after <= 60
    assert len(street.made("GET", "/people")) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrency_slots_are_exclusive_and_time_out():
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        try:
            with concurrency_slot("t:slots", limit=1, max_wait=1):
                held.set()
                release.wait(5)
        finally:
            db.close()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with pytest.raises(SlotsExhausted), concurrency_slot("t:slots", limit=1, max_wait=0.1):
        pass
    release.set()
    thread.join()
    with concurrency_slot("t:slots", limit=1, max_wait=0.1) as slot:
        assert slot == 0


def _bulk_push(connection_id: int, contact_ids: list, workers: int) -> list[Exception]:
    """Push the contacts from several threads, each with its own database session (like separate processes)."""
    chunks = [contact_ids[index::workers] for index in range(workers)]
    errors: list[Exception] = []

    def worker(chunk: list) -> None:
        try:
            connection = CrmConnection.objects.get(pk=connection_id)
            for contact in Contact.objects.filter(pk__in=chunk):
                crm_push_contact(connection=connection, contact=contact)
        except Exception as error:  # collected and asserted by the caller
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.django_db(transaction=True)
def test_a_bulk_sync_from_many_workers_stays_under_the_crms_own_limit(
    start_fake, connect, make_contact, tenant, settings
):
    # Street's 100 writes/min, scaled down: the fake allows 4 writes per 0.5 s; we are configured for 6/s
    # (3 per 0.5 s: a margin for network jitter between our admission and the fake's clock).
    settings.CRM_RATE_LIMITS = {
        "street.writes": {"requests": 6, "per_seconds": 1},
        "street.reads": {"requests": 10_000, "per_seconds": 1, "burst": 100},
    }
    settings.CRM_RATE_LIMIT_MAX_WAIT = 30
    street = start_fake(FakeStreet, writes_per_window=4, window=0.5)
    connection = connect(street)
    contacts = [make_contact(tenant=tenant).pk for _ in range(15)]

    errors = _bulk_push(connection.pk, contacts, workers=6)

    writes = [r.at for r in street.requests if r.method == "POST"]
    assert errors == []
    assert len(writes) == 15 and street.rate_limited == 0
    assert _most_in_any_window(writes, 0.5) <= 4


@pytest.mark.django_db(transaction=True)
def test_without_our_limiter_the_same_bulk_sync_hits_the_crms_limit(
    start_fake, connect, make_contact, tenant, settings
):
    """The control for the test above: it can fail, because unlimited workers do trip Street's 429."""
    settings.CRM_RATE_LIMITS = {
        "street.writes": {"requests": 10_000, "per_seconds": 1, "burst": 100},
        "street.reads": {"requests": 10_000, "per_seconds": 1, "burst": 100},
    }
    street = start_fake(FakeStreet, writes_per_window=4, window=0.5)
    connection = connect(street)
    contacts = [make_contact(tenant=tenant).pk for _ in range(15)]

    errors = _bulk_push(connection.pk, contacts, workers=6)

    assert street.rate_limited > 0
    assert any(isinstance(error, CrmRateLimited) for error in errors)
