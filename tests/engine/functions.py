"""Test-only Inngest functions, served on their own path by tests/engine/urls.py (never in the app's list).

They run inside the test process's live server, so they record what they did in `RECORDER` and the tests read it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import inngest
from django.conf import settings

APP_ID = "engine-tests"
SERVE_PATH = "/api/inngest-test"
GATED_SERVE_PATH = "/api/inngest-test-gated"  # the same functions behind a web-queue gate (urls.py)


@dataclass
class Recorder:
    """Thread-safe record of step executions and concurrency, shared by the functions and the tests."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    executions: list[dict] = field(default_factory=list)
    running: Counter = field(default_factory=Counter)
    max_running: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    barriers: dict = field(default_factory=dict)
    gates: dict = field(default_factory=dict)

    def reset(self) -> None:
        with self.lock:
            self.barriers.clear()
            self.gates.clear()
            self.executions.clear()
            self.running.clear()
            self.max_running.clear()
            self.failures.clear()
            self.results.clear()

    def record(self, ctx: inngest.ContextSync, step: str, **extra: object) -> None:
        with self.lock:
            self.executions.append(
                {"run_id": ctx.run_id, "step": step, "attempt": ctx.attempt, "at": time.monotonic(), **extra}
            )

    def count(self, run_id: str, step: str) -> int:
        with self.lock:
            return sum(1 for e in self.executions if e["run_id"] == run_id and e["step"] == step)

    def steps_of(self, run_id: str) -> list[str]:
        with self.lock:
            return [e["step"] for e in self.executions if e["run_id"] == run_id]

    def enter(self, key: str) -> None:
        with self.lock:
            self.running[key] += 1
            self.max_running[key] = max(self.max_running[key], self.running[key])

    def leave(self, key: str) -> None:
        with self.lock:
            self.running[key] -= 1

    def _gate(self, key: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(key, threading.Event())

    def hold(self, key: str) -> None:
        """Wait until the test opens gate `key` (the timeout only ends a step that would otherwise hang)."""
        self._gate(key).wait(120)

    def open(self, key: str) -> None:
        self._gate(key).set()

    def meet(self, key: str, parties: int) -> None:
        """Wait until `parties` steps of `key` are here at once (a cyclic barrier): a test counts concurrency
        instead of hoping a pause overlaps. Its timeout only ends a step that would otherwise hang."""
        with self.lock:
            barrier = self.barriers.setdefault(key, threading.Barrier(parties, timeout=120))
        barrier.wait()


RECORDER = Recorder()

client = inngest.Inngest(
    app_id=APP_ID,
    is_production=False,
    api_base_url=settings.INNGEST_BASE_URL,
    event_api_base_url=settings.INNGEST_BASE_URL,
)


def _step(
    ctx: inngest.ContextSync, name: str, value: object = None, pause: float = 0.0, hold: str | None = None
) -> object:
    def body() -> object:
        RECORDER.record(ctx, name)
        if hold:
            RECORDER.hold(hold)
        if pause:
            time.sleep(pause)
        return value if value is not None else name

    return ctx.step.run(name, body)


@client.create_function(fn_id="three-step", trigger=inngest.TriggerEvent(event="test/three.step"), retries=2)
def three_step(ctx: inngest.ContextSync) -> dict:
    pause = float(ctx.event.data.get("pause", 0))
    hold = ctx.event.data.get("holdStepOne")  # step one waits at this gate until the test opens it
    results = [_step(ctx, name, pause=pause, hold=hold if name == "one" else None) for name in ("one", "two", "three")]
    return {"results": results}


@client.create_function(fn_id="flaky", trigger=inngest.TriggerEvent(event="test/flaky"), retries=3)
def flaky(ctx: inngest.ContextSync) -> dict:
    _step(ctx, "before")

    def shaky() -> str:
        RECORDER.record(ctx, "shaky")
        if ctx.attempt < 2:
            raise RuntimeError(f"transient failure on attempt {ctx.attempt}")
        return "finally"

    value = ctx.step.run("shaky", shaky)
    _step(ctx, "after")
    return {"shaky": value}


def _record_failure(ctx: inngest.ContextSync) -> None:
    RECORDER.record(ctx, "on-failure")
    with RECORDER.lock:
        RECORDER.failures.append({"event_name": ctx.event.name, "data": dict(ctx.event.data)})


@client.create_function(
    fn_id="always-fails",
    trigger=inngest.TriggerEvent(event="test/always.fails"),
    retries=2,
    on_failure=_record_failure,
)
def always_fails(ctx: inngest.ContextSync) -> None:
    _step(ctx, "fine")

    def doomed() -> None:
        RECORDER.record(ctx, "doomed")
        raise ValueError("this step never works")

    ctx.step.run("doomed", doomed)


@client.create_function(
    fn_id="non-retriable",
    trigger=inngest.TriggerEvent(event="test/non.retriable"),
    retries=4,
    on_failure=_record_failure,
)
def non_retriable(ctx: inngest.ContextSync) -> None:
    def refuse() -> None:
        RECORDER.record(ctx, "refuse")
        raise inngest.NonRetriableError("the payload can never work")

    ctx.step.run("refuse", refuse)


@client.create_function(fn_id="retry-after", trigger=inngest.TriggerEvent(event="test/retry.after"), retries=2)
def retry_after(ctx: inngest.ContextSync) -> str:
    def limited() -> str:
        RECORDER.record(ctx, "limited")
        if ctx.attempt == 0:
            raise inngest.RetryAfterError("rate limited", int(ctx.event.data["retryAfterMs"]))
        return "through"

    return ctx.step.run("limited", limited)


@client.create_function(fn_id="sleeper", trigger=inngest.TriggerEvent(event="test/sleeper"), retries=0)
def sleeper(ctx: inngest.ContextSync) -> str:
    _step(ctx, "before-sleep")
    ctx.step.sleep("nap", timedelta(seconds=int(ctx.event.data["seconds"])))
    _step(ctx, "after-sleep")
    return "rested"


@client.create_function(fn_id="parallel", trigger=inngest.TriggerEvent(event="test/parallel"), retries=0)
def parallel(ctx: inngest.ContextSync) -> dict:
    branches = ctx.group.parallel(tuple((lambda n=n: _step(ctx, f"branch-{n}", value=n * 10)) for n in range(3)))
    total = ctx.step.run("sum", lambda: RECORDER.record(ctx, "sum") or sum(branches))
    return {"branches": list(branches), "total": total}


@client.create_function(fn_id="big-state", trigger=inngest.TriggerEvent(event="test/big.state"), retries=0)
def big_state(ctx: inngest.ContextSync) -> int:
    """Memos over 4 MB in all: the engine must send `use_api` and let the SDK fetch them (as Inngest does)."""
    sizes = [len(_step(ctx, f"chunk-{n}", value="x" * 2_200_000)) for n in range(2)]
    return sum(sizes) + len(_step(ctx, "after", value=""))


@client.create_function(
    fn_id="limited",
    trigger=inngest.TriggerEvent(event="test/limited"),
    concurrency=[inngest.Concurrency(key="event.data.tenantId", limit=2)],
    retries=0,
)
def limited(ctx: inngest.ContextSync) -> None:
    tenant = ctx.event.data["tenantId"]

    def work() -> int:
        RECORDER.enter(tenant)
        try:
            RECORDER.record(ctx, "work", tenant=tenant, seq=ctx.event.data.get("seq"))
            if ctx.event.data.get("meet"):
                RECORDER.meet(tenant, int(ctx.event.data["meet"]))
            time.sleep(float(ctx.event.data.get("pause", 0.03)))
        finally:
            RECORDER.leave(tenant)
        return 1

    ctx.step.run("work", work)
    ctx.step.run("after", lambda: RECORDER.record(ctx, "after", tenant=tenant))


@client.create_function(
    fn_id="fifo",
    trigger=inngest.TriggerEvent(event="test/fifo"),
    concurrency=[inngest.Concurrency(key="event.data.tenantId", limit=1)],
    retries=0,
)
def fifo(ctx: inngest.ContextSync) -> None:
    data = ctx.event.data
    ctx.step.run("work", lambda: RECORDER.record(ctx, "work", tenant=data["tenantId"], seq=data["seq"]))


@client.create_function(
    fn_id="fair",
    trigger=inngest.TriggerEvent(event="test/fair"),
    concurrency=[inngest.Concurrency(key="event.data.tenantId", limit=100)],
    retries=0,
)
def fair(ctx: inngest.ContextSync) -> None:
    data = ctx.event.data

    def work() -> None:
        RECORDER.record(ctx, "work", tenant=data["tenantId"])
        time.sleep(float(data.get("pause", 0.02)))

    ctx.step.run("work", work)


@client.create_function(
    fn_id="sleepy-limited",
    trigger=inngest.TriggerEvent(event="test/sleepy.limited"),
    concurrency=[inngest.Concurrency(key="event.data.tenantId", limit=1)],
    retries=0,
)
def sleepy_limited(ctx: inngest.ContextSync) -> None:
    seq = ctx.event.data["seq"]
    ctx.step.run("start", lambda: RECORDER.record(ctx, "start", seq=seq))
    ctx.step.sleep("nap", timedelta(seconds=60))
    ctx.step.run("end", lambda: RECORDER.record(ctx, "end", seq=seq))


@client.create_function(fn_id="nightly", trigger=inngest.TriggerCron(cron="0 2 * * *"), retries=0)
def nightly(ctx: inngest.ContextSync) -> dict:
    RECORDER.record(ctx, "nightly", event=ctx.event.name)
    return {"cron": ctx.event.data.get("cron")}


FUNCTIONS = [
    three_step,
    big_state,
    flaky,
    always_fails,
    non_retriable,
    retry_after,
    sleeper,
    parallel,
    limited,
    fifo,
    fair,
    sleepy_limited,
    nightly,
]
