"""Sending the outbox (EventLog rows `pending`) to Inngest's event API: bounded in a request, relayed after.

A request never waits on Inngest longer than `EVENTS_SEND_TIMEOUT` in all (2 s by default): after commit it makes
one attempt (the SDK's own request, `jobs.inngest_compat.send_request`, without its 5 x 30 s retries) and gives up
when the time is spent; the rows stay `pending`. The relay (`manage.py relay_events`, also started by `run_all`)
sends what is pending, oldest first, with exponential backoff while Inngest does not accept, and the same event
ids: Inngest de-duplicates on them for 24 h (docs/inngest-engine.md), so a send that did arrive after its
sender gave up starts no second run.

The relay is a process of its own rather than a loop in `run_engine`: it is needed whichever Inngest runs the
functions (Inngest Cloud has no `run_engine`), and an outage's slow sends then never hold up the engine's claims.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import inngest
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Count, Min
from django.utils import timezone

from .inngest_compat import send_request
from .models import EventLog

logger = logging.getLogger(__name__)


class EventsNotAccepted(Exception):
    """The event API did not accept a batch (no answer in time, unreachable, or an error answer).

    `refused`: it answered that it cannot take the batch's content (400, 413, 422), which sending it again will
    not change; every other failure (no answer, 408, 429, 5xx, and 401/403/404, a key or URL problem that is the
    same for every event) may pass later, so those events wait for the relay.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


REFUSED_STATUSES = frozenset({400, 413, 422})


_http = httpx.Client()


def post_events(client: inngest.Inngest, events: list[inngest.Event], *, timeout: float) -> None:
    """One attempt to send `events`, returning within `timeout` seconds in all; raises EventsNotAccepted.

    The send runs on a thread of its own that this one waits for at most `timeout`: httpx bounds each phase
    (connect, write, read) but not their sum. A thread given up on still ends by its own per-phase timeouts; if
    its request did arrive, the relay's resend carries the same id and Inngest ignores it.
    """
    request = send_request(client, events)
    request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["response"] = _http.send(request)
        except Exception as error:  # any failure to get an answer leaves the events pending
            outcome["error"] = error

    sender = threading.Thread(target=send, name="event-send", daemon=True)
    sender.start()
    sender.join(timeout)
    if sender.is_alive():
        raise EventsNotAccepted(f"no answer from the event API within {timeout:.1f}s")
    if "error" in outcome:
        raise EventsNotAccepted(f"{type(outcome['error']).__name__}: {outcome['error']}")
    response: httpx.Response = outcome["response"]
    if response.status_code >= 300:
        raise EventsNotAccepted(
            f"HTTP {response.status_code}: {response.text[:300]}", refused=response.status_code in REFUSED_STATUSES
        )
    try:
        error = response.json().get("error")
    except ValueError:
        error = "an answer that is not JSON"
    if error:
        raise EventsNotAccepted(f"the event API answered: {str(error)[:300]}")


@dataclass(frozen=True)
class OutboxState:
    pending: int
    oldest_age_seconds: float | None


def outbox_state() -> OutboxState:
    """Pending events and the age of the oldest (the admin's dashboard and /readyz show them)."""
    summary = EventLog.objects.filter(status=EventLog.Status.PENDING).aggregate(
        oldest=Min("created_at"), pending=Count("id")
    )
    oldest = summary["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else None
    return OutboxState(pending=summary["pending"], oldest_age_seconds=age)


def relay_once(*, batch_size: int = 500) -> tuple[int, int]:
    """Send the pending events old enough that their request has given up on them; returns (sent, failed).

    Stops at the first batch not accepted (Inngest is down: the others would fail the same way); an event the API
    refuses for its content is set aside (`deliver`) and the pass goes on. Rows are locked while sent (SKIP
    LOCKED), so several relays or `events resend` never send one row at once.
    """
    from .emit import deliver  # emit imports this module

    settled = timezone.now() - timedelta(seconds=settings.EVENTS_SEND_TIMEOUT + 1)
    sent = 0
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                EventLog.objects.select_for_update(skip_locked=True)
                .filter(status=EventLog.Status.PENDING, id__gt=last_id, created_at__lt=settled)
                .order_by("id")[:batch_size]
            )
            if not rows:
                return sent, 0
            last_id = rows[-1].id
            result = deliver(rows, budget=settings.EVENTS_RELAY_SEND_TIMEOUT)
        sent += result.sent
        if result.failed:
            return sent, result.failed


def relay_forever(stop: threading.Event, *, on_pass: Callable[[int, int], None] | None = None) -> None:
    """Relay until `stop` is set: every EVENTS_RELAY_INTERVAL when idle, backing off (doubling up to
    EVENTS_RELAY_BACKOFF_CAP) while Inngest does not accept, back to the interval once it does."""
    delay = settings.EVENTS_RELAY_INTERVAL
    while not stop.is_set():
        try:
            sent, failed = relay_once()
        except Exception:
            logger.exception("relay pass failed; retrying")
            close_old_connections()
            sent, failed = 0, 1
        if on_pass is not None:
            on_pass(sent, failed)
        if failed:
            delay = min(max(delay * 2, settings.EVENTS_RELAY_INTERVAL), settings.EVENTS_RELAY_BACKOFF_CAP)
            logger.warning("events not accepted; relay backing off", extra={"retry_in": delay, "sent": sent})
        else:
            delay = settings.EVENTS_RELAY_INTERVAL
            if sent:
                logger.info("events relayed", extra={"sent": sent})
        stop.wait(delay)
    close_old_connections()
