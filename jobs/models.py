from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Now

from tenants.models import Tenant


class EventLog(models.Model):
    """Every emission, accepted or rejected; also the outbox: `pending` rows are sent by `events resend`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (not yet accepted by Inngest)"
        SENT = "sent", "Sent"
        REJECTED = "rejected", "Rejected (invalid payload, never sent)"

    # Sent to Inngest as the event `id`: Inngest de-duplicates on it for 24 h, so a resend cannot start a second run.
    event_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    name = models.CharField(max_length=256, db_index=True)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="event_logs")
    payload = models.JSONField(default=dict)
    # The catalogue's version of the event when stored (sent as the envelope's `v`); replays upcast from it.
    version = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices)
    errors = models.JSONField(default=list, blank=True, help_text="Validation errors of a rejected event.")
    last_error = models.TextField(blank=True, help_text="Why the last send failed.")
    send_attempts = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=100, blank=True, help_text="Who emitted it: api, admin, a command, a run.")
    # Replay lineage: a replayed event points at the event it re-emits (its runs are the replays of that one's).
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays", db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "id"], name="eventlog_status_id"),
            models.Index(fields=["tenant", "-created_at"], name="eventlog_tenant_created"),
            # The admin's "search by contact id": an expression index on the payload's contactId.
            models.Index(KeyTextTransform("contactId", "payload"), name="eventlog_payload_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.status}] {self.event_id or ''}".strip()


class JobRunQuerySet(models.QuerySet):
    """The worklist's states (jobs/replay.py): a failure is open, replaying, resolved or dismissed.

    A replay is a RunReplay row: the Inngest server was asked to rerun the failed run and answered with the new
    run's id (or refused, with the reason). Its state follows that run as run tracking records it.
    """

    def replaying(self) -> JobRunQuerySet:
        """Failed runs with a replay in flight: asked for, or started and not finished yet."""
        return self.filter(status=JobRun.Status.FAILED).filter(Exists(RunReplay.objects.in_flight(OuterRef("pk"))))

    def failures_open(self) -> JobRunQuerySet:
        """The worklist: failed, not dismissed, not a replay itself, no replay in flight and none completed.

        Whatever their age. A replay that failed or was refused leaves its original open (linked to it).
        """
        return (
            self.filter(status=JobRun.Status.FAILED, dismissed_at__isnull=True)
            .exclude(Exists(RunReplay.objects.filter(run_id=OuterRef("run_id"))))
            .exclude(Exists(RunReplay.objects.in_flight(OuterRef("pk"))))
            .exclude(Exists(RunReplay.objects.completed(OuterRef("pk"))))
        )

    def failures_resolved(self) -> JobRunQuerySet:
        """Failed runs one of whose replays completed."""
        return self.filter(status=JobRun.Status.FAILED).filter(Exists(RunReplay.objects.completed(OuterRef("pk"))))


class JobRun(models.Model):
    """One function run as the app saw it (written by the run-tracking middleware; works with any Inngest)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Retrying"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    run_id = models.CharField(max_length=64, unique=True)
    function_id = models.CharField(max_length=200, db_index=True)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="job_runs")
    event_name = models.CharField(max_length=256, blank=True)
    event_id = models.CharField(max_length=64, blank=True, db_index=True)
    event_log = models.ForeignKey(
        EventLog, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs", db_constraint=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    attempts = models.PositiveIntegerField(default=0, help_text="Requests that failed and were retried.")
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    queue_wait_ms = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="From the event's timestamp to the run's first request (where known)."
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)
    # Database defaults too: bulk loaders (bench/, COPY) insert runs without naming these columns.
    dismissed_by = models.CharField(max_length=150, blank=True, default="", db_default="")
    dismissed_reason = models.TextField(
        blank=True, default="", db_default="", help_text="Why an operator closed this failure without a replay."
    )

    objects = JobRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-started_at"], name="jobrun_status_started"),
            models.Index(fields=["tenant", "status", "-started_at"], name="jobrun_tenant_status_started"),
            models.Index(fields=["function_id", "-started_at"], name="jobrun_function_started"),
            models.Index(fields=["-started_at"], name="jobrun_started"),
            models.Index(fields=["tenant", "-started_at"], name="jobrun_tenant_started"),
            # The open-failures worklist (and its count) per tenant and overall: index-only, no heap visit per run.
            models.Index(
                "tenant",
                models.F("started_at").desc(),
                name="jobrun_open_failures_tenant",
                include=["event_log"],
                condition=models.Q(status="failed", dismissed_at__isnull=True),
            ),
            models.Index(
                models.F("started_at").desc(),
                name="jobrun_open_failures",
                include=["event_log", "tenant"],
                condition=models.Q(status="failed", dismissed_at__isnull=True),
            ),
            # Gauges of current state read only the unfinished runs (a scrape never scans history).
            models.Index(
                fields=["function_id", "tenant"],
                name="jobrun_unfinished",
                condition=models.Q(status__in=["running", "retrying"]),
            ),
        ]
        permissions = [
            ("replay_jobrun", "Can replay runs (rerun them on the Inngest server)"),
            ("cancel_jobrun", "Can cancel runs (on the Inngest server)"),
        ]

    def __str__(self) -> str:
        return f"{self.function_id} {self.run_id} ({self.status})"

    def replay_parent(self) -> JobRun | None:
        """The failed run this run is a replay of (None for a run that is no replay)."""
        replay = RunReplay.objects.filter(run_id=self.run_id).select_related("original").first()
        return replay.original if replay is not None else None


class FailedJobRun(JobRun):
    """The failed runs, as their own admin page (a proxy: same table)."""

    class Meta:
        proxy = True
        verbose_name = "failed run"
        verbose_name_plural = "failed runs"


class RunReplayQuerySet(models.QuerySet):
    def in_flight(self, original) -> RunReplayQuerySet:
        """Replays of `original` (a pk or OuterRef) asked for and unanswered, or started and not finished.

        An unanswered request older than REQUEST_STALE (the admin died between asking and recording the answer)
        is not in flight any more, so the failure can be replayed again.
        """
        finished = JobRun.objects.filter(run_id=OuterRef("run_id"), status__in=RunReplay.RUN_FINISHED)
        return self.filter(original=original).filter(
            models.Q(state=RunReplay.State.REQUESTED, requested_at__gte=Now() - RunReplay.REQUEST_STALE)
            | models.Q(state=RunReplay.State.STARTED) & ~Exists(finished)
        )

    def completed(self, original) -> RunReplayQuerySet:
        done = JobRun.objects.filter(run_id=OuterRef("run_id"), status=JobRun.Status.COMPLETED)
        return self.filter(original=original, state=RunReplay.State.STARTED).filter(Exists(done))


class RunReplay(models.Model):
    """One replay of a failed run: a rerun asked of the Inngest server (one new run of that function, with the
    original event), and what came of it. The new run is the JobRun whose run_id is `run_id`."""

    class State(models.TextChoices):
        REQUESTED = "requested", "Requested (no answer yet)"
        STARTED = "started", "Started a run"
        REFUSED = "refused", "Started no run"

    RUN_FINISHED = ("completed", "failed", "cancelled")
    REQUEST_STALE = timedelta(minutes=10)

    original = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="replays")
    run_id = models.CharField(max_length=64, blank=True, db_index=True, help_text="The run the replay started.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.REQUESTED)
    reason = models.TextField(blank=True, help_text="Why no run started (the server's answer).")
    requested_by = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = RunReplayQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # Two operators (or a double click) replaying one failure: the second finds this one in flight.
            models.UniqueConstraint(
                fields=["original"], condition=models.Q(state="requested"), name="runreplay_one_request_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"replay of {self.original_id}: {self.state} {self.run_id}".strip()


class StepAttempt(models.Model):
    """One attempt at one step of a run: the timeline the admin draws."""

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed (will retry)"
        EXHAUSTED = "exhausted", "Failed (no retries left)"

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="step_attempts")
    step_id = models.CharField(max_length=200)
    step_name = models.CharField(max_length=200, blank=True)
    attempt = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step_id", "attempt"], name="stepattempt_unique_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.step_id} #{self.attempt} ({self.status})"


class SignedRequestSeen(models.Model):
    """A signed serve request already run: the same one again inside the signature's lifetime is a replay.

    Rows older than the lifetime prove nothing (such a request is refused as stale) and are pruned.
    """

    #: sha256 of the method, path with query and `X-Inngest-Signature` (which covers the body and its time).
    digest = models.CharField(max_length=64, primary_key=True)
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.digest[:12]} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class MetricCounter(models.Model):
    """A monotonic counter series for /metrics: the total of its deltas rolled up so far (jobs/metrics.py)."""

    name = models.CharField(max_length=64)
    labels = models.JSONField(default=dict)
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="metriccounter_unique_series")]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} {self.value}"


class MetricDelta(models.Model):
    """Increments written by PostgreSQL triggers (migration 0007), one row per statement and series.

    Append-only, so a writer never waits on a shared counter row; each scrape moves them into MetricCounter.
    """

    name = models.CharField(max_length=64)
    labels = models.JSONField(default=dict)
    value = models.FloatField()

    def __str__(self) -> str:
        return f"+{self.value} {self.name}{self.labels}"
