"""A graceful reload of the web server (SIGHUP to gunicorn's master, `systemctl reload` in deploy/) fails no
request: the master keeps the listening socket, starts new workers, and lets the old ones finish what they hold.
A probe at about 10 requests/s runs through the reload; the test waits for every old worker to be gone (counted
from /proc, not timed) and a few answers from the new ones."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from nurturehub.web import web_server_command
from tests.ports import free_port


def _workers(master: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # field 4 of /proc/<pid>/stat: the parent's pid
            children.add(int(stat.parent.name))
    return children


def test_a_reload_under_a_probe_fails_no_request():
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.web.settings", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
    master = subprocess.Popen(  # noqa: S603
        web_server_command(address), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://{address}/healthz"
    answers: list[int | str] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    answers.append(client.get(url).status_code)
                except httpx.HTTPError as error:
                    answers.append(type(error).__name__)
                stop.wait(0.1)

    try:
        deadline = time.monotonic() + 120  # bounds a start that hangs; nothing is timed
        while True:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert master.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        old = _workers(master.pid)
        assert len(old) == 2
        prober = threading.Thread(target=probe)
        prober.start()
        while len(answers) < 10:
            time.sleep(0.05)
        master.send_signal(signal.SIGHUP)
        while (_workers(master.pid) & old) or len(_workers(master.pid)) < 2:
            assert time.monotonic() < deadline + 120, "the old workers never left"
            time.sleep(0.1)
        settled = len(answers)
        while len(answers) < settled + 10:  # a few answers from the new workers
            time.sleep(0.05)
        stop.set()
        prober.join(30)
    finally:
        stop.set()
        master.terminate()
        master.wait(60)

    assert answers and set(answers) == {200}, [a for a in answers if a != 200]
