"""The core's registration seam: what each feature handles, registered by the feature, called by the core.

The core (services/) never imports a feature and features never import one another; a feature imports this module
and registers, at import, the parts of the run's life it takes over:
- `opcode`: the ops of an SDK answer it handles (pauses.py: WaitForEvent, InvokeFunction; ai_gateway.py:
  AIGateway). Applying an answer (services/answers.py) is one switch over opcodes, as Inngest's executor's
  `HandleGenerator` is (pkg/execution/executor/executor.go): the core's own ops in it, the rest looked up here;
- `on_events`: what fresh events do to runs already there, before they start new ones (pause_resume.py resumes
  waits and invokes, cancellation.py cancels), in `order`;
- `hold_starts`: the starts kept back from running now (delayed.py: debounce and batching);
- `admission`: whether and when each start runs (gates.py: rate limit, idempotency, singleton, throttle);
- `queue_kind`: a kind of queue item the dispatcher runs without an SDK request (pause_resume.py: a wait's or
  invoke's timeout; ai_gateway.py: step.ai.infer's provider request), found by lookup, so the runtime (dispatcher,
  claims) imports no feature, as Inngest's queue items carry a kind (pkg/execution/queue/kind.go: KindEdge,
  KindSleep, KindPause, ...) that its executor service switches on when one is dequeued;
- `claim_gate`: which items a claim has chosen wait instead (throttle.py: a run's first request without a slot);
- `config_check`: its part of a function's config, checked at sync (cancellation.py: `cancel`; debounce.py,
  batching.py; gates.py: idempotency, rate limit, throttle, singleton, priority, timeouts), so the registry
  (registry.py) imports no feature to check one;
- `tick`: a sweep the dispatcher runs when one of its times is due (cron, due debounces and batches, timeouts);
  when that is, is one statement over every feature's table (queries.sql `timers_next_due`, read by wakeup.py).
A host app may register a `ledger_listener` (its run ledger: jobs/ledger.py, through EngineConfig), which the core
tells, with plain values and inside the transaction of the change, about each run's start, step attempts, status
and end (services/ledger_feed.py builds them).
jobs/engine/apps.py imports every feature when Django starts, so all are registered before any request or claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Event, Function, Run
    from .outcomes import Outcome
    from .services.progress import Answer


class _Ordered:
    """Callables registered with an order and handed out lowest order first; registering one again adds nothing."""

    def __init__(self) -> None:
        self._entries: list[tuple[int, Callable[..., Any]]] = []

    def register(self, order: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(hook: Callable[..., Any]) -> Callable[..., Any]:
            if all(existing is not hook for _, existing in self._entries):
                self._entries.append((order, hook))
                self._entries.sort(key=lambda entry: entry[0])
            return hook

        return register

    def all(self) -> list[Callable[..., Any]]:
        return [hook for _, hook in self._entries]


# --- Opcodes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """The op's step is planned as a queue item the engine runs (a step.ai.infer request)."""


@dataclass(frozen=True)
class Waiting:
    """The run now waits on the op (an event, an invoked run); its timeout item is queued."""


@dataclass(frozen=True)
class Memo:
    """The op is answered at once: `value` is the step's memo (an invalid op: the SDK raises its error)."""

    value: Any


OpEffect = Planned | Waiting | Memo
OpHandler = Callable[["Answer", dict[str, Any], str, str], OpEffect]
_opcodes: dict[str, OpHandler] = {}


def opcode(*names: str) -> Callable[[OpHandler], OpHandler]:
    """Register the decorated function as the handler of these ops: (answer, op, hashed step id, step name)."""

    def register(handler: OpHandler) -> OpHandler:
        for name in names:
            _opcodes[name] = handler
        return handler

    return register


def opcode_handler(name: str) -> OpHandler | None:
    return _opcodes.get(name)


def opcodes() -> tuple[str, ...]:
    return tuple(_opcodes)


# --- Queue item kinds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueKind:
    """How the dispatcher runs a leased item of a feature's kind instead of an SDK request.

    `recognise(step_id, payload)` tells the kind from the item's step id and the stored payload request_read joins
    (a step.ai.infer request); `call(http, payload)`, when there is one, is the network part, a coroutine on the
    dispatcher's loop sent only under a fresh lease; `apply(item_id=, owner=[, result=])` stores the outcome on a
    database thread under the claim's token and returns an `Outcome`.
    """

    name: str
    recognise: Callable[[str, Any], bool]
    apply: Callable[..., Outcome]
    call: Callable[[Any, Any], Any] | None = None


_queue_kinds: dict[str, QueueKind] = {}


def queue_kind(kind: QueueKind) -> QueueKind:
    """Register a kind of queue item (by name: registering a name again replaces it)."""
    _queue_kinds[kind.name] = kind
    return kind


def queue_kind_of(step_id: str, payload: Any) -> QueueKind | None:
    """The registered kind of an item (None: an SDK request), in registration order."""
    return next((kind for kind in _queue_kinds.values() if kind.recognise(step_id, payload)), None)


def queue_kind_named(name: str) -> QueueKind | None:
    return _queue_kinds.get(name)


# --- Intake ---------------------------------------------------------------------------------------------

EventsHook = Callable[..., Any]
_event_hooks = _Ordered()


def on_events(order: int) -> Callable[[EventsHook], EventsHook]:
    """Register a hook called with every batch of fresh events, hook(rows, now=), inside intake's transaction."""
    return _event_hooks.register(order)


def event_hooks() -> list[EventsHook]:
    return _event_hooks.all()


def events_received(rows: list[Event], *, now: datetime) -> None:
    for hook in event_hooks():
        hook(rows, now=now)


Start = tuple  # (function, event) or (function, first event, every event's map) for a batch
HoldHook = Callable[..., list[Start]]
_hold: list[HoldHook] = []


def hold_starts_with(hook: HoldHook) -> HoldHook:
    """Register the one hook that keeps starts back: hook(starts, now=, batching=) -> the starts to run now."""
    _hold[:] = [hook]
    return hook


def hold_starts(starts: list[tuple[Function, Event]], *, now: datetime, batching: bool = True) -> list[Start]:
    """The starts to run now; without a registered hook, all of them."""
    return _hold[0](starts, now=now, batching=batching) if _hold else list(starts)


@dataclass
class OpenAdmission:
    """Every start goes ahead now, at priority factor 0: the admission without flow control."""

    now: datetime
    starts: list[tuple[Function, Event, datetime, int]] = field(default_factory=list)

    def finish(self, runs: list[Run]) -> None:
        """Nothing to record."""


AdmitHook = Callable[..., Any]
_admit: list[AdmitHook] = []


def admission(hook: AdmitHook) -> AdmitHook:
    """Register the one hook deciding starts: hook(starts, now=, rerun=) -> an object with `starts` and `finish`."""
    _admit[:] = [hook]
    return hook


def admit(starts: list[tuple[Function, Event]], *, now: datetime, rerun: bool = False) -> Any:
    if _admit:
        return _admit[0](starts, now=now, rerun=rerun)
    return OpenAdmission(now=now, starts=[(function, event, now, 0) for function, event in starts])


# --- Claims -------------------------------------------------------------------------------------------------

ClaimGate = Callable[..., set[int]]
_claim_gate: list[ClaimGate] = []


def claim_gate(hook: ClaimGate) -> ClaimGate:
    """Register the one hook a claim asks which of its chosen items wait: hook(cursor, item ids, now=) -> those ids.

    It runs inside the claim's transaction, after the choice within the concurrency limits; an item it holds back
    is not leased (the hook sets its `available_at`).
    """
    _claim_gate[:] = [hook]
    return hook


def claim_gates() -> list[ClaimGate]:
    return list(_claim_gate)


def claim_held(cursor: Any, item_ids: list[int], *, now: datetime) -> set[int]:
    """The chosen items that must wait; without a registered gate, none."""
    return _claim_gate[0](cursor, item_ids, now=now) if _claim_gate and item_ids else set()


# --- Periodic ticks -------------------------------------------------------------------------------------

Tick = Callable[[], Any]
_ticks = _Ordered()


def tick(order: int) -> Callable[[Tick], Tick]:
    """Register a sweep the dispatcher runs on its tick, in `order` (cron first: its runs may be held)."""
    return _ticks.register(order)


def ticks() -> list[Tick]:
    return _ticks.all()


# --- Function config checks -----------------------------------------------------------------------------

ConfigCheck = Callable[[dict[str, Any]], None]
_config_checks = _Ordered()


def config_check(order: int) -> Callable[[ConfigCheck], ConfigCheck]:
    """Register a check of a synced function's config, check(config), raising ProtocolError with what is wrong;
    run in `order` at sync (registry.py), and the first error is the one stored with the function."""
    return _config_checks.register(order)


def config_checks() -> list[ConfigCheck]:
    return _config_checks.all()


def config_check_all(config: dict[str, Any]) -> None:
    for check in config_checks():
        check(config)


# --- The run ledger ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerStep:
    """One step attempt's outcome, as a host app's run ledger records it (no engine model crosses the seam)."""

    step: str  # the step's id as the function wrote it (the op's name); "" for the function body itself
    kind: str  # "step", "sleep" or "function" (the body's own answer or error)
    attempt: int  # counted from 1
    outcome: str  # "completed", "failed" (retried at `next_at`) or "exhausted"
    started_at: datetime
    ended_at: datetime
    error: Any = None  # the SDK's error body ({name, message, stack}) exactly as sent
    next_at: datetime | None = None  # the retry's time, or a sleep's wake time


@dataclass(frozen=True)
class LedgerChange:
    """What happened to one run in one engine transaction: its start, its step attempts, its new status.

    `status` is "" when unchanged, else "running", "retrying", "completed", "failed" or "cancelled"; `output` and
    `error` go with the final ones. `first_request_at`: when the run's first step request was sent (its queue wait).
    """

    run_id: str
    function: str  # the function's slug as synced (`<app id>-<function id>`)
    event: dict[str, Any]  # the triggering event, as sent to the SDK (name, id, data, ts)
    at: datetime
    started: bool = False
    status: str = ""
    output: Any = None
    error: Any = None
    first_request_at: datetime | None = None
    steps: tuple[LedgerStep, ...] = ()


LedgerListener = Callable[[list[LedgerChange]], Any]
_ledger: list[LedgerListener] = []


def ledger_listener(listener: LedgerListener) -> LedgerListener:
    """Register a listener called with the runs' changes inside the transaction that makes them (the host app's
    run ledger, reached through EngineConfig.ledger_listener); registering the same listener again is a no-op."""
    if all(existing is not listener for existing in _ledger):
        _ledger.append(listener)
    return listener


def ledger_record(changes: list[LedgerChange]) -> None:
    """Tell every ledger listener; nothing to do (no value built) without one."""
    if changes:
        for listener in _ledger:
            listener(changes)


def ledger_listening() -> bool:
    return bool(_ledger)
