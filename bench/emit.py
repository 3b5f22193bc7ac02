"""Emission throughput: validation alone, validation + EventLog write, and the full `emit_many` over HTTP.

The HTTP side is a local server in another process that answers like Inngest's event API (`POST /e/<key>`).
Prints events/s for batches of 1, 100 and 1,000 events and the ratio full/validation (how much the log write
and the HTTP send cost over validation, measured in the same run), then 10,000 events through the full path.
Run: `.venv/bin/python bench/emit.py`.
"""

from __future__ import annotations

import json
import multiprocessing
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _setup import best_of, setup_django, timed


class EventApiHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"ids": [f"01BENCH{i:019d}" for i in range(len(events))], "status": 200}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(port_queue: multiprocessing.Queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EventApiHandler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    setup_django("emit")
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from jobs.emit import _validate, emit_many
    from jobs.events import NurtureSequenceGenerate
    from jobs.models import EventLog
    from tenants.models import Tenant

    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(queue,), daemon=True)
    server.start()
    settings.INNGEST_BASE_URL = f"http://127.0.0.1:{queue.get(timeout=10)}"

    tenant, _ = Tenant.objects.get_or_create(slug="bench-emit", defaults={"name": "Bench", "brand_voice": "Plain."})
    EventLog.objects.all().delete()

    def payloads(count: int) -> list[dict]:
        now = timezone.now().isoformat()
        return [
            {
                "tenantId": str(tenant.id),
                "contactId": str(uuid.uuid4()),
                "category": "seller",
                "brandVoice": "Warm, plain-spoken and local.",
                "assignmentId": 1,
                "source": "csv-import",
                "triggeredAt": now,
            }
            for _ in range(count)
        ]

    def validate_and_log(items: list[dict]) -> None:
        # The EventLog write without the send: stored rows stay pending inside a rolled-back transaction.
        with transaction.atomic():
            emit_many(NurtureSequenceGenerate, items)
            transaction.set_rollback(True)

    print(f"{'batch':>6} {'validate ev/s':>14} {'+ log ev/s':>12} {'full ev/s':>11} {'full/validate':>14}")
    for size in (1, 100, 1000):
        repeats = max(3, 3000 // size)
        items = payloads(size)
        validate = best_of(repeats, lambda items=items: _validate(NurtureSequenceGenerate, items, source="bench"))
        logged = best_of(repeats, lambda items=items: validate_and_log(items))
        full = best_of(max(3, repeats // 3), lambda size=size: emit_many(NurtureSequenceGenerate, payloads(size)))
        rates = f"{size / validate:>14,.0f} {size / logged:>12,.0f} {size / full:>11,.0f}"
        print(f"{size:>6} {rates} {full / validate:>13.1f}x")

    items = payloads(10_000)
    seconds = timed(lambda: emit_many(NurtureSequenceGenerate, items))
    sent = EventLog.objects.filter(status=EventLog.Status.SENT).count()
    print(
        f"\n10,000 events through validate + log + send: {seconds:.2f} s = {10_000 / seconds:,.0f} events/s "
        f"(aim: 5,000 events/s); rows sent so far: {sent:,}"
    )
    server.terminate()


if __name__ == "__main__":
    main()
