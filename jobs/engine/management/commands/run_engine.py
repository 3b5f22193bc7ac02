"""`manage.py run_engine`: one dispatcher of the local engine (sync the app, then run its queue until stopped)."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.engine.dispatcher import Dispatcher


class Command(BaseCommand):
    help = (
        "Run one local-engine dispatcher: sync the app(s), then dispatch steps until SIGTERM or Ctrl-C, which stop "
        "claiming, let steps in flight finish for ENGINE_SHUTDOWN_GRACE seconds, then hand the rest back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=None, help="database threads (ENGINE_WORKERS)")
        parser.add_argument(
            "--max-in-flight", type=int, default=None, help="step requests in flight at most (ENGINE_MAX_IN_FLIGHT)"
        )
        parser.add_argument(
            "--app-url",
            action="append",
            dest="app_urls",
            default=None,
            help="a serve URL to sync and run (repeatable; default ENGINE_APP_URLS or INNGEST_SERVE_URL)",
        )

    def handle(
        self,
        *args: object,
        workers: int | None,
        max_in_flight: int | None,
        app_urls: list[str] | None,
        **options: object,
    ) -> None:
        if "jobs.engine" not in settings.INSTALLED_APPS:
            raise CommandError("the local engine is disabled (LOCAL_ENGINE_ENABLED=false): use Inngest instead")
        dispatcher = Dispatcher(workers=workers, max_in_flight=max_in_flight, app_urls=app_urls)
        stop_requested = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
        signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
        self.stdout.write(
            f"engine dispatcher {dispatcher.owner}: up to {dispatcher.max_in_flight} steps in flight,"
            f" {dispatcher.workers} database threads, apps {', '.join(dispatcher.app_urls)}"
        )
        dispatcher.start()
        while not stop_requested.wait(0.5):
            pass
        grace = settings.ENGINE_SHUTDOWN_GRACE
        self.stdout.write(f"stopping: no more claims; finishing the steps in flight (up to {grace:g}s)...")
        self.stdout.flush()
        released = dispatcher.shutdown(grace)
        self.stdout.write(f"stopped ({released} step(s) handed back to other dispatchers)")
