"""A category assignment through the API while Inngest's event API is down (black-holed) or up.

100 assignments (25 at a time, Django's test client in this process) with the event API answering (the
baseline), then 100 with a stand-in that accepts connections and never answers, in the same run. Prints each
case's median and slowest answer, the ratio black-holed/answering, and the bound (`EVENTS_SEND_TIMEOUT`) every
black-holed answer must stay within. Before issue 20 one black-holed assignment took 154 s (the SDK's 5 x 30 s).
Then the relay's time to deliver the 100 pending events once the API answers again.
Run: `.venv/bin/python bench/outbox.py`.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _setup import setup_django

ASSIGNMENTS = 100
CONCURRENCY = 25


def main() -> None:
    setup_django("outbox")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from jobs.models import EventLog
    from jobs.outbox import relay_forever
    from tenants.models import Contact, Membership, Tenant
    from tenants.services import membership_add
    from tests.fakes.black_hole_event_api import BlackHoleEventApi

    stand_in = BlackHoleEventApi().start()
    settings.INNGEST_BASE_URL = stand_in.url
    EventLog.objects.all().delete()
    Contact.objects.filter(tenant__slug="bench-outbox").delete()
    tenant, _ = Tenant.objects.get_or_create(slug="bench-outbox", defaults={"name": "Bench", "brand_voice": "Plain."})
    user, _ = get_user_model().objects.get_or_create(username="bench-outbox")
    membership_add(tenant=tenant, user=user, role=Membership.Role.AGENT)
    token = Token.objects.get_or_create(user=user)[0].key

    def assign_all(category: str) -> list[float]:
        contacts = [
            Contact.objects.create(tenant=tenant, email=f"{category}-{i}-{time.time_ns()}@bench.example")
            for i in range(ASSIGNMENTS)
        ]

        def assign(contact: Contact) -> float:
            client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
            start = time.perf_counter()
            response = client.post(
                f"/api/v1/contacts/{contact.id}/category/", {"category": category}, content_type="application/json"
            )
            elapsed = time.perf_counter() - start
            assert response.status_code == 202, response.content
            return elapsed

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            return list(pool.map(assign, contacts))

    stand_in.up()
    answering = assign_all("seller")
    stand_in.down()
    black_holed = assign_all("landlord")
    pending = EventLog.objects.filter(status=EventLog.Status.PENDING).count()

    stand_in.up()
    stop = threading.Event()
    relay = threading.Thread(target=relay_forever, args=(stop,))
    start = time.perf_counter()
    relay.start()
    while EventLog.objects.filter(status=EventLog.Status.PENDING).exists():
        time.sleep(0.05)
    relayed_in = time.perf_counter() - start
    stop.set()
    relay.join()
    stand_in.stop()

    bound = settings.EVENTS_SEND_TIMEOUT
    print(f"{ASSIGNMENTS} API assignments, {CONCURRENCY} at a time; EVENTS_SEND_TIMEOUT = {bound:.1f} s")
    print(f"{'event API':<14}{'median':>10}{'slowest':>10}")
    for name, times in (("answering", answering), ("black-holed", black_holed)):
        print(f"{name:<14}{statistics.median(times):>9.3f}s{max(times):>9.3f}s")
    print(f"ratio black-holed/answering (median): {statistics.median(black_holed) / statistics.median(answering):.1f}x")
    print(f"slowest black-holed answer within the bound: {max(black_holed) <= bound + 0.5} (bound + 0.5 s)")
    print(f"pending after the outage: {pending}; relayed once the API answered, in {relayed_in:.2f} s")
    print(f"event ids accepted more than once: {sum(1 for n in stand_in.accepted.values() if n > 1)}")


if __name__ == "__main__":
    main()
