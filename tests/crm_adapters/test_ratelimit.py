"""The shared rate limiter (GCRA in PostgreSQL) and the concurrency slots, checked by counts, not by timing."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from django.db import connection as db

from crm_adapters import client as crm_client
from crm_adapters.errors import CrmRateLimited
from crm_adapters.locks import SlotsExhausted, concurrency_slot
from crm_adapters.models import CrmConnection
from crm_adapters.ratelimit import RateLimit, RateLimitExceeded, rate_limit_admit, rate_limit_pause, rate_limit_reserve
from crm_adapters.services import crm_push_contact
from tenants.models import Contact
from tests.fakes.crm import FakeStreet

pytestmark = pytest.mark.django_db


# An injected clock (epoch seconds) for the limiter's arithmetic: no test here depends on how fast calls follow.
# (Doubles near 2e9 hold about 0.2 microseconds: comparisons allow 1 microsecond.)
T = 1_900_000_000.0


def test_reservations_are_spaced_by_the_emission_interval():
    limit = RateLimit(requests=10, per_seconds=1)

    admissions = [rate_limit_admit(key="t:spacing", limit=limit, max_wait=5, now=T) for _ in range(4)]

    assert [a.wait for a in admissions] == pytest.approx([0, 0.1, 0.2, 0.3], abs=1e-6)
    assert [a.at - T for a in admissions] == pytest.approx([0, 0.1, 0.2, 0.3], abs=1e-6)


def test_a_caller_arriving_after_its_slot_goes_at_once():
    limit = RateLimit(requests=10, per_seconds=1)
    rate_limit_admit(key="t:late", limit=limit, max_wait=5, now=T)

    late = rate_limit_admit(key="t:late", limit=limit, max_wait=5, now=T + 1)

    assert (late.wait, late.at) == pytest.approx((0, T + 1), abs=1e-6)


def test_a_burst_goes_through_at_once_then_the_rate_applies():
    limit = RateLimit(requests=10, per_seconds=1, burst=3)

    waits = [rate_limit_reserve(key="t:burst", limit=limit, max_wait=5, now=T) for _ in range(4)]

    assert waits == pytest.approx([0, 0, 0, 0.1], abs=1e-6)


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
    rate_limit_pause(key="t:pause", limit=limit, seconds=30, now=T)

    with pytest.raises(RateLimitExceeded) as raised:
        rate_limit_reserve(key="t:pause", limit=limit, max_wait=5, now=T)
    after = rate_limit_admit(key="t:pause", limit=limit, max_wait=5, now=T + 30)

    assert 30 - limit.interval <= raised.value.retry_after <= 30
    assert (after.wait, after.at) == pytest.approx((0, T + 30), abs=1e-6)


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


@pytest.fixture
def write_admissions(monkeypatch) -> list[tuple[float, float]]:
    """Every write the limiter admits, as (admitted at on the limiter's clock, due on this process's monotonic
    clock: the earliest moment the client may send it). A spy: the real limiter decides."""
    admitted: list[tuple[float, float]] = []
    real = crm_client.rate_limit_admit

    def spy(**kwargs):
        admission = real(**kwargs)
        if kwargs["key"].endswith(":writes"):
            admitted.append((admission.at, time.monotonic() + admission.wait))
        return admission

    monkeypatch.setattr(crm_client, "rate_limit_admit", spy)
    return admitted


@pytest.mark.django_db(transaction=True)
def test_a_bulk_sync_from_many_workers_stays_under_the_crms_own_limit(
    start_fake, connect, make_contact, tenant, settings, write_admissions
):
    """Counted against the limiter's own schedule, not the fake's wall clock: a slow machine delays requests,
    which can bunch them on arrival whatever any client does, but never moves a write before its admission."""
    # Street allows 100 writes a minute; scaled down, 4 per 0.5 s. We are configured for 6/s (3 per 0.5 s).
    settings.CRM_RATE_LIMITS = {
        "street.writes": {"requests": 6, "per_seconds": 1},
        "street.reads": {"requests": 10_000, "per_seconds": 1, "burst": 100},
    }
    settings.CRM_RATE_LIMIT_MAX_WAIT = 30
    street = start_fake(FakeStreet)
    connection = connect(street)
    contacts = [make_contact(tenant=tenant).pk for _ in range(15)]

    errors = _bulk_push(connection.pk, contacts, workers=6)

    writes = sorted(r.at for r in street.requests if r.method == "POST")
    assert errors == []
    assert len(writes) == 15 and len(write_admissions) == 15  # every write went through the limiter
    admitted_at = sorted(at for at, _ in write_admissions)
    assert _most_in_any_window(admitted_at, 0.5) <= 3  # our configured rate, under Street's 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(admitted_at)]
    assert min(gaps) >= 1 / 6 - 1e-6
    due = sorted(due for _, due in write_admissions)
    early = [(arrived, earliest) for arrived, earliest in zip(writes, due, strict=True) if arrived < earliest]
    assert early == []  # no write reached the CRM before the limiter's slot for it


@pytest.mark.django_db(transaction=True)
def test_without_our_limiter_the_same_bulk_sync_hits_the_crms_limit(
    start_fake, connect, make_contact, tenant, settings
):
    """The control: a CRM's limit is real, and unlimited workers trip it. Street's own window (4 writes per
    minute here) is long enough that no machine is slow enough to spread 15 writes beyond it."""
    settings.CRM_RATE_LIMITS = {
        "street.writes": {"requests": 10_000, "per_seconds": 1, "burst": 100},
        "street.reads": {"requests": 10_000, "per_seconds": 1, "burst": 100},
    }
    street = start_fake(FakeStreet, writes_per_window=4, window=60)
    connection = connect(street)
    contacts = [make_contact(tenant=tenant).pk for _ in range(15)]

    errors = _bulk_push(connection.pk, contacts, workers=6)

    assert street.rate_limited > 0
    assert any(isinstance(error, CrmRateLimited) for error in errors)
