"""Test-only function and web-queue gate for the fence tests (test_engine_fence.py).

`journal` runs three steps; every step body, as it starts, writes a journal line saying whether its own memo was
already stored: a body that starts with its memo stored is a completed step executed again, the one thing the
fence must prevent (a body that starts without it is the at-least-once of a step in flight).

`WEB_QUEUE` holds step requests at the serve endpoint's door, before the project's serve view sees them, as
requests queued in a busy web server wait: the first `hold_per_run` requests of each run wait until the test opens
the gate.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import inngest
from django.http import HttpRequest, HttpResponse

from jobs.engine.models import StepMemo

from .functions import RECORDER, client

JOURNAL_STEPS = ("one", "two", "three")


def _journaled(ctx: inngest.ContextSync, name: str) -> str:
    memo_existed = StepMemo.objects.filter(run__run_id=ctx.run_id, name=name).exists()
    RECORDER.record(ctx, name, memo_existed=memo_existed)
    return f"{name}-{ctx.event.data['n']}"


@client.create_function(fn_id="journal", trigger=inngest.TriggerEvent(event="test/journal"), retries=2)
def journal(ctx: inngest.ContextSync) -> list[str]:
    return [ctx.step.run(name, lambda name=name: _journaled(ctx, name)) for name in JOURNAL_STEPS]


def _soak_step(ctx: inngest.ContextSync, name: str) -> str:
    """A step of bench/fence_soak.py: its journal line goes to the file `FENCE_JOURNAL` names (the web server is a
    process of its own there), one short write in append mode per body start."""
    memo_existed = StepMemo.objects.filter(run__run_id=ctx.run_id, name=name).exists()
    line = json.dumps({"run_id": ctx.run_id, "step": name, "memo_existed": memo_existed})
    with open(os.environ["FENCE_JOURNAL"], "a") as journal_file:
        journal_file.write(line + "\n")
    time.sleep(float(ctx.event.data.get("pause", 0)))  # a step in flight long enough to be frozen under
    return name


@client.create_function(fn_id="soak-five", trigger=inngest.TriggerEvent(event="test/soak.five"), retries=2)
def soak_five(ctx: inngest.ContextSync) -> list[str]:
    return [ctx.step.run(f"s{n}", lambda n=n: _soak_step(ctx, f"s{n}")) for n in range(5)]


FENCE_FUNCTIONS = [journal, soak_five]


@dataclass
class WebQueue:
    """Holds the first `hold_per_run` step requests of each run until `open()`; counts what the held ones got."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: Counter[str] = field(default_factory=Counter)
    hold_per_run: int = 1
    held: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    gate: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.hold_per_run = 1
            self.held = 0
            self.statuses.clear()
            self.gate = threading.Event()

    def open(self) -> None:
        self.gate.set()

    def finished(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def _first_of_run(self, request: HttpRequest) -> bool:
        run_id = request.headers.get("X-Run-ID")
        if request.method != "POST" or not run_id:
            return False
        with self.lock:
            if self.seen[run_id] >= self.hold_per_run:
                return False
            self.seen[run_id] += 1
            self.held += 1
            return True

    def wrap(self, view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
        def gated(request: HttpRequest) -> HttpResponse:
            if not self._first_of_run(request):
                return view(request)
            self.gate.wait(300)  # the timeout only ends a request that would otherwise hang
            response = view(request)
            with self.lock:
                self.statuses[response.status_code] += 1
            return response

        gated.csrf_exempt = True  # type: ignore[attr-defined]
        return gated


WEB_QUEUE = WebQueue()
