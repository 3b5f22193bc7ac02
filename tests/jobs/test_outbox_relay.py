"""Inngest black-holed: API requests still answer within EVENTS_SEND_TIMEOUT, and the relay delivers every event
exactly once when it is back (issue 20). Real HTTP end to end: the live server, the stand-in, httpx."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from jobs.models import EventLog
from jobs.outbox import outbox_state, relay_forever
from tests.factories import ContactFactory, MembershipFactory
from tests.fakes.black_hole_event_api import BlackHoleEventApi
from tests.waiting import wait_for

ASSIGNMENTS = 100
BOUND = 0.5  # EVENTS_SEND_TIMEOUT for the test: what each request may wait on Inngest in all
# The client gives each request this much before calling it a failure: generous for a slow shared machine, and
# still far below what one unanswered send used to take (the SDK's 5 attempts of 30 s: 154 s measured).
CLIENT_TIMEOUT = BOUND + 15


@pytest.fixture
def black_hole(settings):
    stand_in = BlackHoleEventApi().start()
    settings.INNGEST_BASE_URL = stand_in.url
    settings.EVENTS_SEND_TIMEOUT = BOUND
    settings.EVENTS_RELAY_SEND_TIMEOUT = BOUND
    settings.EVENTS_RELAY_INTERVAL = 0.05
    settings.EVENTS_RELAY_BACKOFF_CAP = 0.4
    yield stand_in
    stand_in.stop()


@pytest.mark.django_db(transaction=True)
def test_black_holed_inngest_never_blocks_a_request_and_the_relay_delivers_each_event_once(
    live_server, tenant, black_hole
):
    member = MembershipFactory(tenant=tenant).user
    token = Token.objects.create(user=member).key
    contacts = [ContactFactory(tenant=tenant) for _ in range(ASSIGNMENTS)]
    black_hole.down()

    def assign(contact) -> int:
        with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
            response = client.post(
                f"{live_server.url}/api/v1/contacts/{contact.id}/category/",
                json={"category": "seller"},
                headers={"Authorization": f"Token {token}"},
            )
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(assign, contacts))

    assert statuses == [202] * ASSIGNMENTS  # each answered before the client's timeout (a ReadTimeout otherwise)
    pending = EventLog.objects.filter(status=EventLog.Status.PENDING)
    assert pending.count() == ASSIGNMENTS
    assert black_hole.held >= 1  # the sends were tried and held unanswered, not skipped
    assert black_hole.accepted == {}
    assert outbox_state().pending == ASSIGNMENTS

    stop = threading.Event()
    passes: list[tuple[int, int]] = []
    relay = threading.Thread(target=relay_forever, args=(stop,), kwargs={"on_pass": lambda *p: passes.append(p)})
    relay.start()
    try:
        # Still down: the relay tries, is not accepted, and backs off; nothing is lost or marked sent.
        wait_for(lambda: sum(failed for _, failed in passes) >= 2, timeout=60, message="relay attempts while down")
        assert EventLog.objects.filter(status=EventLog.Status.PENDING).count() == ASSIGNMENTS
        black_hole.up()
        wait_for(
            lambda: not EventLog.objects.filter(status=EventLog.Status.PENDING).exists(),
            timeout=60,
            message="every event relayed",
        )
    finally:
        stop.set()
        relay.join(30)

    ids = set(EventLog.objects.values_list("event_id", flat=True))
    assert len(ids) == ASSIGNMENTS
    assert set(black_hole.accepted) == ids
    assert set(black_hole.accepted.values()) == {1}  # each delivered exactly once
    assert outbox_state() == outbox_state().__class__(pending=0, oldest_age_seconds=None)


@pytest.mark.django_db(transaction=True)
def test_relay_command_once_reports_what_stays_pending(tenant, black_hole, capsys):
    EventLog.objects.create(
        event_id="evt-1", name="contact/category.assigned", tenant=tenant, status=EventLog.Status.PENDING
    )
    EventLog.objects.filter(event_id="evt-1").update(created_at=EventLog.objects.get().created_at.replace(year=2020))
    black_hole.up()
    call_command("relay_events", "--once")
    assert "sent 1, still pending 0" in capsys.readouterr().out
    assert black_hole.accepted == {"evt-1": 1}
