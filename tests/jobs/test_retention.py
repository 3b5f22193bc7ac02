"""History pruning: old finished rows go in batches; what is pending, running or queued stays, however old."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from ulid import ULID

from crm_adapters.models import CrmSyncLog, Provider
from jobs.engine.models import (
    App,
    Event,
    EventIdempotency,
    Function,
    PendingBatch,
    PendingDebounce,
    QueueItem,
    Run,
    StepMemo,
)
from jobs.models import EventLog, JobRun, RunReplay, StepAttempt
from jobs.retention import prune_table
from tests.factories import CrmConnectionFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(hours=1)


def _event_log(status, created_at):
    row = EventLog.objects.create(name="lead/intent.score", status=status, event_id=str(ULID()))
    EventLog.objects.filter(pk=row.pk).update(created_at=created_at)
    return row.pk


def _job_run(status, started_at, *, finished=True):
    run = JobRun.objects.create(
        run_id=str(ULID()),
        function_id="lead-intent-score",
        status=status,
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=5) if finished else None,
    )
    StepAttempt.objects.create(run=run, step_id="score", attempt=1, status="completed", started_at=started_at)
    return run.pk


def test_old_finished_runs_and_sent_events_go_and_what_is_in_progress_stays():
    old_done = _job_run(JobRun.Status.COMPLETED, OLD)
    old_failed = _job_run(JobRun.Status.FAILED, OLD)
    JobRun.objects.filter(pk=old_failed).update(dismissed_at=OLD)  # closed: an open failure would stay
    old_running = _job_run(JobRun.Status.RUNNING, OLD, finished=False)
    old_retrying = _job_run(JobRun.Status.RETRYING, OLD, finished=False)
    recent_done = _job_run(JobRun.Status.COMPLETED, RECENT)
    old_sent = _event_log(EventLog.Status.SENT, OLD)
    old_pending = _event_log(EventLog.Status.PENDING, OLD)
    recent_sent = _event_log(EventLog.Status.SENT, RECENT)

    out = io.StringIO()
    call_command("prune_history", stdout=out)

    assert set(JobRun.objects.values_list("pk", flat=True)) == {old_running, old_retrying, recent_done}
    assert not StepAttempt.objects.filter(run_id__in=[old_done, old_failed]).exists()
    assert set(EventLog.objects.values_list("pk", flat=True)) == {old_pending, recent_sent}
    assert old_sent not in EventLog.objects.values_list("pk", flat=True)
    assert "job_runs: 2 deleted" in out.getvalue() and "event_log: 1 deleted" in out.getvalue()


def test_pruning_goes_in_batches_of_the_given_size():
    for _ in range(5):
        _job_run(JobRun.Status.COMPLETED, OLD)
    assert list(prune_table("job_runs", now=NOW, batch_size=2)) == [2, 2, 1]
    assert not JobRun.objects.exists()


def test_the_crm_sync_log_has_its_own_retention(tenant, settings):
    settings.CRM_SYNC_LOG_RETENTION_DAYS = 90
    connection = CrmConnectionFactory(tenant=tenant, provider=Provider.LOOP)
    kept, gone = [
        CrmSyncLog.objects.create(
            tenant=tenant, connection=connection, provider=Provider.LOOP, entity="contact", status="success"
        )
        for _ in range(2)
    ]
    CrmSyncLog.objects.filter(pk=kept.pk).update(created_at=NOW - timedelta(days=60))
    CrmSyncLog.objects.filter(pk=gone.pk).update(created_at=NOW - timedelta(days=120))

    assert sum(prune_table("crm_sync_log", now=NOW, batch_size=100)) == 1
    assert list(CrmSyncLog.objects.values_list("pk", flat=True)) == [kept.pk]


def _report(out: io.StringIO) -> list[str]:
    return [line.split(":")[0] for line in out.getvalue().splitlines()]


def test_with_the_engine_installed_its_tables_are_pruned_after_the_apps_own():
    out = io.StringIO()
    call_command("prune_history", stdout=out)
    assert _report(out) == [
        "job_runs",
        "event_log",
        "crm_sync_log",
        "engine_runs",
        "engine_events",
        "engine_idempotency",
        "signed_requests",
    ]


def test_without_the_engine_the_prune_keeps_to_the_apps_own_tables(monkeypatch):
    monkeypatch.setattr("jobs.retention.apps.is_installed", lambda name: name != "jobs.engine")  # as on Inngest Cloud
    old_done = _job_run(JobRun.Status.COMPLETED, OLD)
    out = io.StringIO()

    call_command("prune_history", stdout=out)

    assert _report(out) == ["job_runs", "event_log", "crm_sync_log", "signed_requests"]
    assert "job_runs: 1 deleted" in out.getvalue()
    assert not JobRun.objects.filter(pk=old_done).exists()


@pytest.fixture
def engine_function():
    app = App.objects.create(name=f"app-{uuid.uuid4().hex[:6]}", url="http://127.0.0.1:9/api/inngest")
    return Function.objects.create(app=app, slug=f"{app.name}-fn", step_url=app.url)


def _engine_run(function, status, *, event=None, queued=False):
    run = Run.objects.create(
        run_id=str(ULID()), function=function, status=status, event=event, created_at=OLD, ended_at=None
    )
    StepMemo.objects.create(run=run, hashed_id=uuid.uuid4().hex, memo={"data": 1}, position=0)
    if queued:
        QueueItem.objects.create(
            run=run, function=function, max_attempts=5, queue_key="k", available_at=NOW, order_at=NOW
        )
    return run


def test_engine_rows_in_progress_or_queued_are_never_pruned(engine_function):
    old_event = Event.objects.create(internal_id=str(ULID()), name="x", ts=0, received_at=OLD)
    event_of_a_running_run = Event.objects.create(internal_id=str(ULID()), name="x", ts=0, received_at=OLD)
    done = _engine_run(engine_function, Run.Status.COMPLETED, event=old_event)
    running = _engine_run(engine_function, Run.Status.RUNNING, event=event_of_a_running_run, queued=True)
    queued = _engine_run(engine_function, Run.Status.QUEUED, queued=True)
    # A finished run that still has a queue item (a cancelled run's leftover): its item is not ours to drop.
    finished_with_item = _engine_run(engine_function, Run.Status.CANCELLED, queued=True)
    EventIdempotency.objects.create(key="old", event_internal_id=old_event.internal_id, seen_at=OLD)
    EventIdempotency.objects.create(key="fresh", event_internal_id=old_event.internal_id, seen_at=RECENT)

    call_command("prune_history", stdout=io.StringIO())

    assert set(Run.objects.values_list("pk", flat=True)) == {running.pk, queued.pk, finished_with_item.pk}
    assert not StepMemo.objects.filter(run_id=done.pk).exists()
    assert QueueItem.objects.count() == 3
    assert list(Event.objects.values_list("pk", flat=True)) == [event_of_a_running_run.pk]
    assert list(EventIdempotency.objects.values_list("key", flat=True)) == ["fresh"]


def test_engine_events_held_by_a_debounce_or_an_open_batch_are_never_pruned(engine_function):
    def old_event():
        return Event.objects.create(internal_id=str(ULID()), name="x", ts=0, received_at=OLD)

    debounced, batched, free = old_event(), old_event(), old_event()
    PendingDebounce.objects.create(
        function=engine_function, key="k", event=debounced, event_ts=0, fire_at=NOW, created_at=OLD
    )
    PendingBatch.objects.create(function=engine_function, key="k", event_ids=[batched.pk], fire_at=NOW, created_at=OLD)

    call_command("prune_history", stdout=io.StringIO())

    assert set(Event.objects.values_list("pk", flat=True)) == {debounced.pk, batched.pk}
    assert free.pk not in set(Event.objects.values_list("pk", flat=True))
    assert PendingDebounce.objects.count() == PendingBatch.objects.count() == 1


def test_engine_idempotency_keys_outlive_inngests_24_hours_whatever_the_setting(settings, engine_function):
    settings.ENGINE_RETENTION_DAYS = 0
    EventIdempotency.objects.create(key="12h", event_internal_id="x", seen_at=NOW - timedelta(hours=12))
    assert sum(prune_table("engine_idempotency", now=NOW, batch_size=10)) == 0


def _run_of(event_log_pk, status, started_at, **fields):
    return JobRun.objects.create(
        run_id=str(ULID()),
        function_id="lead-intent-score",
        status=status,
        event_log_id=event_log_pk,
        started_at=started_at,
        finished_at=None if status in (JobRun.Status.RUNNING, JobRun.Status.RETRYING) else started_at,
        **fields,
    ).pk


def test_the_event_of_a_run_still_running_or_retrying_is_kept_with_its_payload():
    running_event = _event_log(EventLog.Status.SENT, OLD)
    retrying_event = _event_log(EventLog.Status.SENT, OLD)
    done_event = _event_log(EventLog.Status.SENT, OLD)
    _run_of(running_event, JobRun.Status.RUNNING, OLD)
    _run_of(retrying_event, JobRun.Status.RETRYING, OLD)
    _run_of(done_event, JobRun.Status.COMPLETED, OLD)

    call_command("prune_history", stdout=io.StringIO())

    assert set(EventLog.objects.values_list("pk", flat=True)) == {running_event, retrying_event}
    assert set(JobRun.objects.values_list("event_log_id", flat=True)) == {running_event, retrying_event}


def test_an_open_failure_stays_on_the_worklist_however_old_until_replayed_or_dismissed():
    open_event = _event_log(EventLog.Status.SENT, OLD)
    dismissed_event = _event_log(EventLog.Status.SENT, OLD)
    replayed_event = _event_log(EventLog.Status.SENT, OLD)
    open_failure = _run_of(open_event, JobRun.Status.FAILED, OLD)
    _run_of(dismissed_event, JobRun.Status.FAILED, OLD, dismissed_at=OLD, dismissed_reason="duplicate")
    replayed = _run_of(replayed_event, JobRun.Status.FAILED, OLD)
    # resolved by replay: a rerun of it started and completed (recent, so the new run itself stays)
    rerun = _run_of(replayed_event, JobRun.Status.COMPLETED, timezone.now())
    RunReplay.objects.create(
        original_id=replayed,
        run_id=JobRun.objects.get(pk=rerun).run_id,
        state=RunReplay.State.STARTED,
        requested_at=timezone.now(),
    )

    call_command("prune_history", stdout=io.StringIO())

    assert list(JobRun.objects.failures_open().values_list("pk", flat=True)) == [open_failure]
    assert set(JobRun.objects.values_list("pk", flat=True)) == {open_failure, rerun}
    # the open failure's event (payload and replay source) stays; a finished run's old event goes
    assert set(EventLog.objects.values_list("pk", flat=True)) == {open_event}


@pytest.mark.parametrize("size", ["0", "-1"])
def test_a_batch_size_below_one_is_refused(size):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_history", "--batch-size", size, stdout=io.StringIO())
