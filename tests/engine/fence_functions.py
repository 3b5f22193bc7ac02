"""Test-only function and web-queue gate for the fence tests (test_engine_fence.py).

`journal` runs three steps (or as many as its event asks, each as slow as it asks); every step body, as it
starts, writes a journal line saying whether its own memo was already stored: a body that starts with its memo
stored is a completed step executed again, the one thing the fence must prevent (a body that starts without it
is the at-least-once of a step in flight).

`web_queue_gate` holds step requests at the serve endpoint's door, before the project's serve view sees them, as
requests queued in a busy web server wait: the first `hold_per_run` requests of each run wait until the test opens
the gate. The gate and the journal are files, shared by the web server's processes (gunicorn) and the test.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import inngest
from django.http import HttpRequest, HttpResponse

from jobs.engine.models import StepMemo

from .functions import RECORDER, client

JOURNAL_STEPS = ("one", "two", "three")


def _journaled(ctx: inngest.ContextSync, name: str) -> str:
    memo_existed = StepMemo.objects.filter(run__run_id=ctx.run_id, name=name).exists()
    if os.environ.get("FENCE_JOURNAL"):  # a web server of its own (gunicorn): the journal is a file
        _journal_line(ctx.run_id, name, memo_existed)
    else:
        RECORDER.record(ctx, name, memo_existed=memo_existed)
    time.sleep(float(ctx.event.data.get("pause", 0)))  # a slow step
    return f"{name}-{ctx.event.data['n']}"


def _journal_line(run_id: str, step: str, memo_existed: bool) -> None:
    """One line appended to the file `FENCE_JOURNAL` names, in one write (O_APPEND: lines from several processes
    never interleave)."""
    line = json.dumps({"run_id": run_id, "step": step, "memo_existed": memo_existed}) + "\n"
    descriptor = os.open(os.environ["FENCE_JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


def journal_steps(count: int = len(JOURNAL_STEPS)) -> tuple[str, ...]:
    """The names of a journal run's steps: `one`, `two`, `three`, then `s4`, `s5`... for longer runs."""
    return JOURNAL_STEPS[:count] + tuple(f"s{n}" for n in range(len(JOURNAL_STEPS) + 1, count + 1))


@client.create_function(fn_id="journal", trigger=inngest.TriggerEvent(event="test/journal"), retries=2)
def journal(ctx: inngest.ContextSync) -> list[str]:
    """Three steps, or `steps` of them; each sleeps `pause` seconds after journaling its start (a slow step)."""
    names = journal_steps(int(ctx.event.data.get("steps", len(JOURNAL_STEPS))))
    return [ctx.step.run(name, lambda name=name: _journaled(ctx, name)) for name in names]


def _soak_step(ctx: inngest.ContextSync, name: str) -> str:
    """A step of bench/fence_soak.py: its journal line goes to the file `FENCE_JOURNAL` names (the web server is a
    process of its own there), one short write in append mode per body start."""
    memo_existed = StepMemo.objects.filter(run__run_id=ctx.run_id, name=name).exists()
    _journal_line(ctx.run_id, name, memo_existed)
    time.sleep(float(ctx.event.data.get("pause", 0)))  # a step in flight long enough to be frozen under
    return name


@client.create_function(fn_id="soak-five", trigger=inngest.TriggerEvent(event="test/soak.five"), retries=2)
def soak_five(ctx: inngest.ContextSync) -> list[str]:
    return [ctx.step.run(f"s{n}", lambda n=n: _soak_step(ctx, f"s{n}")) for n in range(5)]


FENCE_FUNCTIONS = [journal, soak_five]


class WebQueue:
    """Holds the first `hold_per_run` step requests of each run until `open()`; counts what the held ones got.

    Its state is files in one directory (`WEB_QUEUE_DIR` in the web server's environment), so that every worker
    process and thread of gunicorn shares it with the test: `held-<run>-<k>` (created exclusively: the k-th held
    request of a run), `status-<run>-<k>-<code>` (what the serve view answered it), `open` (the gate).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def configure(self, hold_per_run: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "hold_per_run").write_text(str(hold_per_run))

    def open(self) -> None:
        (self.directory / "open").touch()

    def is_open(self) -> bool:
        return (self.directory / "open").exists()

    @property
    def held(self) -> int:
        return len(list(self.directory.glob("held-*")))

    def finished(self) -> int:
        return len(list(self.directory.glob("status-*")))

    @property
    def statuses(self) -> Counter[int]:
        return Counter(int(f.name.rsplit("-", 1)[1]) for f in self.directory.glob("status-*"))

    def _hold(self, request: HttpRequest) -> str | None:
        """The name this request is held under, or None when it passes (not a step request, or its run's
        requests to hold are all taken)."""
        run_id = request.headers.get("X-Run-ID")
        if request.method != "POST" or not run_id:
            return None
        for k in range(int((self.directory / "hold_per_run").read_text())):
            try:
                os.close(os.open(self.directory / f"held-{run_id}-{k}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            return f"{run_id}-{k}"
        return None


def web_queue_gate(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """`view` behind the `WebQueue` of the directory `WEB_QUEUE_DIR` names (read per request); without it, open."""

    def gated(request: HttpRequest) -> HttpResponse:
        directory = os.environ.get("WEB_QUEUE_DIR")
        held = WebQueue(Path(directory))._hold(request) if directory else None
        if held is None:
            return view(request)
        queue = WebQueue(Path(directory))
        deadline = time.monotonic() + 300  # the deadline only ends a request that would otherwise hang
        while not queue.is_open() and time.monotonic() < deadline:
            time.sleep(0.05)
        response = view(request)
        (queue.directory / f"status-{held}-{response.status_code}").touch()
        return response

    gated.csrf_exempt = True  # type: ignore[attr-defined]
    return gated
