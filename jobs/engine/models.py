"""The engine's durable state: apps and functions it was told about, events, runs, step memos and the queue.

Everything a dispatcher needs lives here, so a dispatcher killed at any moment loses nothing: a claimed queue
item carries a lease that runs out, and a step's memo is written in the same transaction that moves its item on.
"""

from __future__ import annotations

import uuid

from django.db import models


class App(models.Model):
    """An app that synced its functions through `POST /fn/register`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    url = models.CharField(max_length=1000)
    sdk = models.CharField(max_length=100, blank=True)
    framework = models.CharField(max_length=50, blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    sync_error = models.TextField(blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Function(models.Model):
    """A registered function; `slug` is Inngest's composite id `<app>-<fn>`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="functions")
    slug = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=255, blank=True)
    step_url = models.CharField(max_length=1000)
    retries = models.PositiveSmallIntegerField(default=4)
    # Normalised concurrency entries: [{"scope": "fn|env|account", "key": "<expression>|null", "limit": n}].
    concurrency = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict)
    # Why its config is invalid (registry.py): it never starts (an event for it is a SkippedRun saying this), and
    # `config`/`concurrency` stay as last synced valid, for the runs it already has.
    config_error = models.TextField(blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def max_attempts(self) -> int:
        """Inngest's `retries.attempts` holds the retry count: attempts are one more."""
        return self.retries + 1


class Trigger(models.Model):
    """What starts a function: an event name (with an optional expression) or a cron schedule."""

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="triggers")
    event_name = models.CharField(max_length=512, blank=True, db_index=True)
    expression = models.TextField(blank=True)
    cron = models.CharField(max_length=200, blank=True)
    next_fire_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["function", "id"]

    def __str__(self) -> str:
        return f"{self.function.slug}: {self.cron or self.event_name}"


class Event(models.Model):
    """One received event; `internal_id` is the ULID returned to the sender (stable across the SDK's retries)."""

    internal_id = models.CharField(max_length=26, unique=True)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    name = models.CharField(max_length=512, db_index=True)
    data = models.JSONField(default=dict)
    ts = models.BigIntegerField()
    version = models.CharField(max_length=64, blank=True, default="", help_text="The envelope's `v`, if sent.")
    duplicate = models.BooleanField(default=False, help_text="Its id was seen in the last 24 h: it started no runs.")
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} {self.internal_id}"

    def to_inngest(self) -> dict[str, object]:
        """The event map the SDK receives (`ts` must stay an int; `v` only when the sender gave one, as Inngest's
        Event.Map does)."""
        event = {
            "id": self.external_id or self.internal_id,
            "name": self.name,
            "data": self.data,
            "ts": self.ts,
            "user": {},
        }
        if self.version:
            event["v"] = self.version
        return event


class EventIdempotency(models.Model):
    """The first event seen with a user-given `id`; later ones within 24 h start no runs."""

    key = models.CharField(max_length=255, primary_key=True)
    event_internal_id = models.CharField(max_length=26)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key


class Run(models.Model):
    """One function run."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # The one list of the statuses a run ends in (nothing more runs; a cancel is refused), and of the others.
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    run_id = models.CharField(max_length=26, unique=True)
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="runs")
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    events = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Concurrency keys evaluated once when the run was scheduled: [{"key": "...", "limit": n}].
    concurrency = models.JSONField(default=list, blank=True)
    # Inngest's ForceStepPlan: after a response with several ops, new steps are planned, not run inline.
    force_step_plan = models.BooleanField(default=False)
    # The request version the SDK chose (its `x-inngest-req-version` answer); -1 until it answers, like Inngest.
    request_version = models.SmallIntegerField(default=-1)
    steps_done = models.PositiveIntegerField(default=0, help_text="Memos stored so far (the next memo's position).")
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["function", "status"], name="engine_run_function_status"),
            # The run timeouts' part of timers_next_due (queries.sql): the oldest unstarted and the earliest started
            # unfinished run of a function, each the first entry of a small partial index (finished runs leave it).
            models.Index(
                fields=["function", "created_at"],
                name="engine_run_unstarted",
                condition=models.Q(status="queued", started_at__isnull=True),
            ),
            models.Index(
                fields=["function", "started_at"],
                name="engine_run_started_open",
                condition=models.Q(status__in=["queued", "running"], started_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.function.slug} {self.run_id} ({self.status})"


class StepMemo(models.Model):
    """A finished step's memo as the SDK expects it back (`{"data": ...}`, `{"error": ...}` or null)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="memos")
    hashed_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True)
    memo = models.JSONField(null=True, blank=True)
    position = models.PositiveIntegerField(help_text="Completion order: the stack sent to the SDK.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "hashed_id"], name="engine_memo_unique_step")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.name or self.hashed_id}"


class QueueItem(models.Model):
    """One request to make: discovery (`step_id="step"`) or one planned step of a run.

    Ready when `available_at` has passed and nobody holds it (`lease_owner` null). Claiming sets a lease;
    finishing deletes the item or moves it on in the same transaction that stores the step's memo.
    """

    DISCOVERY = "step"
    # A pause's timeout (pauses.py): `timeout:<step hash>`, due when the wait or invoke expires; no SDK request.
    PAUSE_TIMEOUT_PREFIX = "timeout:"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="queue_items")
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="queue_items")
    step_id = models.CharField(max_length=64, default=DISCOVERY)
    step_name = models.CharField(max_length=255, blank=True)
    parallel_mode = models.CharField(max_length=10, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    # Fairness: key queues are served round-robin; within one, continuing runs (priority 0) before new ones.
    queue_key = models.CharField(max_length=255)
    priority = models.PositiveSmallIntegerField(default=1)
    # Up to two concurrency keys (Inngest allows two entries) with their limits; "" / 0 when unused.
    key1 = models.CharField(max_length=255, blank=True)
    limit1 = models.PositiveIntegerField(default=0)
    key2 = models.CharField(max_length=255, blank=True)
    limit2 = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField()
    # The run's priority factor (seconds, -600..600) and the order it gives: Inngest keeps when an item is due and
    # shifts only its place in the queue (queue/enqueue.go: the score is taken, then `qi.AtMS -= factor`), for
    # every item of the run. Claims take ready items (`available_at`) in `order_at` order.
    factor = models.SmallIntegerField(default=0)
    order_at = models.DateTimeField()
    # NULL (not "") means unclaimed: the partial indexes and the claim queries test IS NULL.
    lease_owner = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The request the item stands for: one more each time an answer moves it on (the next discovery, a retry), so
    # a request or an answer built for an older step of the same item is told apart (fence.py).
    generation = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["queue_key", "priority", "order_at", "id"]
        indexes = [
            models.Index(
                fields=["queue_key", "priority", "order_at", "id"],
                name="engine_item_ready",
                condition=models.Q(lease_owner__isnull=True),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="engine_item_leased",
                condition=models.Q(lease_owner__isnull=False),
            ),
            # The next item due (timers_next_due in queries.sql): min(available_at) of the unleased items.
            models.Index(fields=["available_at"], name="engine_item_due", condition=models.Q(lease_owner__isnull=True)),
        ]
        constraints = [
            # Inngest gives a planned step a fixed job id (`<run>-<step hash>-plan`, executor.go
            # handleGeneratorStepPlanned) and its queue ignores a second enqueue: one pending item per planned step.
            models.UniqueConstraint(
                fields=["run", "step_id"], name="engine_item_one_per_step", condition=~models.Q(step_id="step")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.function_id} {self.step_id} #{self.attempt}"

    @property
    def is_discovery(self) -> bool:
        return self.step_id == self.DISCOVERY

    def same_queue(self) -> dict[str, object]:
        """Its key queue and concurrency keys: what another item of the same run is queued under."""
        return {
            "factor": self.factor,
            "queue_key": self.queue_key,
            "key1": self.key1,
            "limit1": self.limit1,
            "key2": self.key2,
            "limit2": self.limit2,
        }

    @property
    def is_pause_timeout(self) -> bool:
        return self.step_id.startswith(self.PAUSE_TIMEOUT_PREFIX)


class KeyQueue(models.Model):
    """When each key queue was last served, so that claims go round-robin across keys (least recently first)."""

    key = models.CharField(max_length=255, primary_key=True)
    last_served_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key


class RunSpan(models.Model):
    """One request to the SDK, or one op of its answer: the run's trace, as Inngest's dev server keeps it.

    `output` and `error` hold exactly what the SDK sent (a step's `data`, an op's `error`, a function-level error
    body). `span_id` is the public id GraphQL hands out as the span's `outputID`.
    """

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        RETRYING = "retrying", "Errored, will retry"
        SLEEPING = "sleeping", "Sleeping"
        PLANNED = "planned", "Planned"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="spans")
    span_id = models.CharField(max_length=26, unique=True)
    # The step's hashed id and the user's step id; blank for a function-level answer (its return or its error).
    step_id = models.CharField(max_length=64, blank=True)
    step_name = models.CharField(max_length=255, blank=True)
    # The SDK's opcode (StepRun, StepError, Sleep, ...); RunComplete for a return, FunctionError for a 4xx/5xx.
    op = models.CharField(max_length=30)
    attempt = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    wake_at = models.DateTimeField(null=True, blank=True, help_text="When a sleep ends.")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When the failed attempt is tried again.")

    class Meta:
        ordering = ["run", "started_at", "id"]
        indexes = [models.Index(fields=["run", "started_at", "id"], name="engine_span_run_order")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.step_name or self.op} #{self.attempt}"


class GatewayRequest(models.Model):
    """A `step.ai.infer` request the engine makes itself (Inngest's AI gateway): the op's url, headers and body.

    Kept until the step's memo is stored, so a dispatcher that dies mid-request leaves it for a retry; the
    provider key in `opts` is never logged nor put in the trace.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="gateway_requests")
    hashed_id = models.CharField(max_length=64)
    opts = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "hashed_id"], name="engine_gateway_one_per_step")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.hashed_id} (ai.infer)"


class Pause(models.Model):
    """A run waiting on an event: `step.wait_for_event`, or `step.invoke` waiting for the invoked run to end.

    Inngest's pauses (pkg/execution/state/pause.go): a wait is found by the incoming event's name, an invoke by its
    correlation id (`<run id>.<step hash>`, which the invoked run's `inngest/function.finished` carries). Consumed
    once: by a matching event, or by its timeout item (`QueueItem` `timeout:<step hash>`), whichever locks first.
    """

    class Kind(models.TextChoices):
        WAIT_FOR_EVENT = "wait", "step.wait_for_event"
        INVOKE = "invoke", "step.invoke"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="pauses")
    kind = models.CharField(max_length=6, choices=Kind.choices)
    step_id = models.CharField(max_length=64, help_text="The step's hashed id (its memo's key).")
    step_name = models.CharField(max_length=255, blank=True)
    event_name = models.CharField(max_length=512, blank=True, help_text="The event a wait waits for.")
    expression = models.TextField(blank=True, help_text="A wait's `if` (CEL over `event` and `async`).")
    # For an `if` of the shape `event.<a> == async.<b>`: the digest of b and the run's value of a, which an event
    # must carry to be a candidate (if_index.py); "" for any other `if`.
    match_key = models.CharField(max_length=40, blank=True)
    correlation_id = models.CharField(max_length=100, blank=True, help_text="An invoke's `<run id>.<step hash>`.")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["event_name", "match_key"], name="engine_pause_event", condition=models.Q(kind="wait")
            ),
            models.Index(fields=["correlation_id"], name="engine_pause_invoke", condition=models.Q(kind="invoke")),
        ]
        constraints = [models.UniqueConstraint(fields=["run", "step_id"], name="engine_pause_one_per_step")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.step_name or self.step_id} ({self.kind})"


class DispatcherHeartbeat(models.Model):
    """A running dispatcher's last sign of life (`/readyz` wants one fresh beat); removed when it stops cleanly."""

    owner = models.CharField(max_length=80, primary_key=True)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.owner} @ {self.beat_at:%H:%M:%S}"


from .gate_models import GcraKey, RunSingleton, SkippedRun  # noqa: E402, F401  (registered with the engine app)
from .held_models import PendingBatch, PendingDebounce  # noqa: E402, F401  (registered with the engine app)
