"""`manage.py run_all` (what `make run` ends with): the web server and the local engine together.

Collects static files, starts the web server (gunicorn with threaded workers, as in production:
`nurturehub/web.py`), waits until it answers, starts one engine dispatcher (when the local engine is enabled)
and the outbox relay (`relay_events`),
assigns the demo contacts' categories so there is work to watch, prints the admin URL and login, and stops both
processes on Ctrl-C (or when either of them dies).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from urllib.error import URLError

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nurturehub.web import web_server_command


class Command(BaseCommand):
    help = "Run the web server and the local engine together; Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default=settings.WEB_ADDRESS)
        parser.add_argument("--no-demo", action="store_true", help="do not assign the demo contacts' categories")

    def handle(self, *args: object, addr: str, no_demo: bool, **options: object) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        children: list[subprocess.Popen[bytes]] = []

        def stop(*_: object) -> None:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    # The engine lets steps in flight finish for its grace before it exits (run_engine).
                    child.wait(timeout=settings.ENGINE_SHUTDOWN_GRACE + 15)
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
        try:
            call_command("collectstatic", interactive=False, verbosity=0)  # whitenoise serves STATIC_ROOT
            children.append(subprocess.Popen(web_server_command(addr)))  # noqa: S603
            # /healthz, not /api/inngest: an unsigned GET of the serve endpoint is 401 in production.
            self._wait_until_up(f"http://{addr}/healthz", children[0])
            # The outbox relay: events a request could not hand over in time are sent from here (jobs/outbox.py).
            children.append(subprocess.Popen([*manage, "relay_events"]))  # noqa: S603
            if settings.LOCAL_ENGINE_ENABLED and "jobs.engine" in settings.INSTALLED_APPS:
                children.append(subprocess.Popen([*manage, "run_engine"]))  # noqa: S603
                if settings.INNGEST_DEV:
                    # An unsigned sync: development only. In production the dispatcher syncs (signed) by itself.
                    self._wait_until_synced(settings.INNGEST_SERVE_URL)
                self._wait_until_up(f"http://{addr}/readyz", children[0])  # a dispatcher's heartbeat, among others
            demo = settings.DEBUG and not no_demo  # production never seeds demo users (known password)
            if demo:
                call_command("seed_demo", assign_categories=True, stdout=self.stdout)
            login = f"admin / {os.environ.get('DEMO_ADMIN_PASSWORD', 'nurturehub')}" if demo else "your admin user"
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nNurtureHub is running.\n  Admin:  http://{addr}/admin/\n  Login:  {login}\n"
                    "  Ctrl-C stops the web server and the engine.\n"
                )
            )
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            raise CommandError("a process stopped; stopping the others")
        except KeyboardInterrupt:
            self.stdout.write("\nstopping...")
        finally:
            stop()

    def _wait_until_synced(self, serve_url: str, timeout: float = 60) -> None:
        """Sync the app before the demo sends events: like Inngest, the engine starts nothing for unknown functions.

        A PUT to the serve endpoint is how any Inngest server syncs an app (the SDK then registers its functions);
        the SDK answers 200 even when registration failed, so the body decides.
        """
        body = json.dumps({"url": serve_url}).encode()
        headers = {"Content-Type": "application/json", "X-Inngest-Server-Kind": "dev"}
        deadline = time.monotonic() + timeout
        error = ""
        while time.monotonic() < deadline:
            request = urllib.request.Request(serve_url, data=body, headers=headers, method="PUT")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own local URL)
                    error = str(json.loads(response.read() or b"{}").get("error") or "")
            except (URLError, ConnectionError, TimeoutError, ValueError) as failure:
                error = str(failure)
            if not error:
                return
            time.sleep(0.5)
        raise CommandError(f"the app could not be synced with the local engine: {error}")

    def _wait_until_up(self, url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError("the web server did not start")
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own local URL)
                    return
            except (URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise CommandError(f"the web server did not answer at {url} within {timeout:.0f}s")
