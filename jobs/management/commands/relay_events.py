"""`manage.py relay_events`: the outbox relay, a process of its own beside the web server (jobs/outbox.py).

Sends the events a request could not hand to Inngest within EVENTS_SEND_TIMEOUT, oldest first, with the same
ids, backing off while Inngest does not accept; runs until SIGTERM or Ctrl-C (`--once`: one pass, then exit).
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.outbox import outbox_state, relay_forever, relay_once


class Command(BaseCommand):
    help = "Relay pending events to Inngest with backoff until stopped (SIGTERM or Ctrl-C)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one pass over the pending events, then exit")

    def handle(self, *args: object, once: bool, **options: object) -> None:
        if once:
            sent, failed = relay_once()
            state = outbox_state()
            self.stdout.write(f"sent {sent}, still pending {state.pending}")
            if failed:
                raise CommandError("Inngest did not accept the events; they stay pending")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        self.stdout.write("event relay: sending pending events until stopped")
        relay_forever(stop)
        self.stdout.write("event relay stopped")
