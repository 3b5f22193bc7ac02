from __future__ import annotations

import pytest

from jobs.engine.models import Event, QueueItem, Run, StepMemo

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def test_three_step_function_completes_and_each_step_runs_once(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/three.step", {"n": 1})

    (run,) = engine.wait_for_runs("-three-step", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == {"results": ["one", "two", "three"]}
    assert recorder.steps_of(run.run_id) == ["one", "two", "three"]
    assert list(StepMemo.objects.filter(run=run).values_list("name", flat=True)) == ["one", "two", "three"]
    assert not QueueItem.objects.filter(run=run).exists()
    finished = Event.objects.get(name="inngest/function.finished")
    assert finished.data["run_id"] == run.run_id
    assert finished.data["result"] == run.output


def test_a_step_that_fails_twice_then_succeeds_ran_three_times_and_the_steps_before_it_once(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/flaky")

    (run,) = engine.wait_for_runs("-flaky", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == {"shaky": "finally"}
    assert recorder.count(run.run_id, "before") == 1
    assert recorder.count(run.run_id, "shaky") == 3
    assert recorder.count(run.run_id, "after") == 1
    attempts = [r.attempt for r in engine.records if r.run_id == run.run_id and r.step == "shaky"]
    assert attempts == [0, 1, 2]
    # Attempts reset after each completed step: the step after the flaky one started again at attempt 0.
    assert [e["attempt"] for e in recorder.executions if e["step"] == "after"] == [0]


def test_a_function_that_always_fails_ends_failed_after_retries_plus_one_attempts_and_runs_on_failure(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/always.fails", {"order": 42})

    (run,) = engine.wait_for_runs("-always-fails", 1)
    assert run.status == Run.Status.FAILED
    assert recorder.count(run.run_id, "fine") == 1
    assert recorder.count(run.run_id, "doomed") == 3  # retries=2 -> 3 attempts
    assert run.error["name"] == "ValueError"  # the SDK reports the failed step's own error
    assert "this step never works" in run.error["message"]

    (failure_run,) = engine.wait_for_runs("-always-fails-failure", 1)
    assert failure_run.status == Run.Status.COMPLETED
    (failure,) = recorder.failures
    assert failure["event_name"] == "inngest/function.failed"
    data = failure["data"]
    assert data["function_id"] == "engine-tests-always-fails"
    assert data["run_id"] == run.run_id
    assert data["event"]["name"] == "test/always.fails"
    assert data["event"]["data"] == {"order": 42}
    assert data["event"]["user"] == {}
    assert [e["name"] for e in data["events"]] == ["test/always.fails"]
    assert data["error"]["name"] == "ValueError"
    assert "this step never works" in data["error"]["message"]
    failed_event = Event.objects.get(name="inngest/function.failed")
    assert failed_event.external_id == run.run_id  # Inngest uses the run id as the event id
    finished = Event.objects.get(name="inngest/function.finished", data__run_id=run.run_id)
    assert finished.data["error"]["message"] == data["error"]["message"]


def test_non_retriable_error_fails_the_run_at_once(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/non.retriable")

    (run,) = engine.wait_for_runs("-non-retriable", 1)
    assert run.status == Run.Status.FAILED
    assert recorder.count(run.run_id, "refuse") == 1
    assert run.error["message"] == "the payload can never work"
    engine.wait_for_runs("-non-retriable-failure", 1)
    assert len(recorder.failures) == 1


def test_retry_after_error_is_honoured_instead_of_the_backoff_table(engine, recorder, settings):
    # Scaled by 0.01: the table's first backoff is 150-450 ms; the requested 100 s retry-after becomes 1 s.
    settings.ENGINE_DELAY_SCALE = 0.01
    engine.start_dispatcher()

    engine.send("test/retry.after", {"retryAfterMs": 100_000})

    (run,) = engine.wait_for_runs("-retry-after", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == "through"
    first, second = [e for e in recorder.executions if e["run_id"] == run.run_id]
    assert (first["attempt"], second["attempt"]) == (0, 1)
    gap = second["at"] - first["at"]
    assert 0.95 <= gap < 10, gap  # the lower bound is the point: the table would have retried after 0.15-0.45 s


def test_sleep_resumes_after_the_scaled_wake_time(engine, recorder, settings):
    settings.ENGINE_DELAY_SCALE = 0.01  # a 60 s sleep becomes 0.6 s
    engine.start_dispatcher()

    engine.send("test/sleeper", {"seconds": 60})

    (run,) = engine.wait_for_runs("-sleeper", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == "rested"
    before, after = [e for e in recorder.executions if e["run_id"] == run.run_id]
    assert (before["step"], after["step"]) == ("before-sleep", "after-sleep")
    assert after["at"] - before["at"] >= 0.55
    memos = list(StepMemo.objects.filter(run=run).values_list("name", "memo"))
    assert memos == [
        ("before-sleep", {"data": "before-sleep"}),
        ("nap", None),
        ("after-sleep", {"data": "after-sleep"}),
    ]


def test_a_parallel_group_runs_every_branch_once(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/parallel")

    (run,) = engine.wait_for_runs("-parallel", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == {"branches": [0, 10, 20], "total": 30}
    for branch in ("branch-0", "branch-1", "branch-2", "sum"):
        assert recorder.count(run.run_id, branch) == 1, branch
    # The branches were planned and then run as targeted requests (one request each).
    branch_records = [r for r in engine.records if r.run_id == run.run_id and r.step.startswith("branch-")]
    assert sorted(r.step for r in branch_records) == ["branch-0", "branch-1", "branch-2"]


def test_a_due_cron_trigger_starts_a_scheduled_timer_run_and_is_rescheduled(engine, recorder):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.engine.models import Trigger

    engine.start_dispatcher()
    trigger = Trigger.objects.get(function__slug="engine-tests-nightly")
    assert trigger.cron == "0 2 * * *"
    assert trigger.next_fire_at > timezone.now()
    assert (trigger.next_fire_at.hour, trigger.next_fire_at.minute) == (2, 0)
    Trigger.objects.filter(pk=trigger.pk).update(next_fire_at=timezone.now() - timedelta(seconds=1))

    (run,) = engine.wait_for_runs("-nightly", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == {"cron": "0 2 * * *"}
    assert recorder.executions[0]["event"] == "inngest/scheduled.timer"
    trigger.refresh_from_db()
    assert trigger.next_fire_at > timezone.now()
    assert Run.objects.filter(function__slug="engine-tests-nightly").count() == 1  # fired once, not every tick


def test_an_event_id_starts_runs_only_once_within_24_hours(engine, recorder):
    engine.start_dispatcher()

    first = engine.send("test/three.step", id="order-7")
    second = engine.send("test/three.step", id="order-7")

    engine.wait_for_runs("-three-step", 1)
    assert first != second
    assert Event.objects.filter(external_id="order-7").count() == 2
    assert Event.objects.get(internal_id=second).duplicate is True
    assert Run.objects.filter(function__slug="engine-tests-three-step").count() == 1


def test_a_run_whose_memos_pass_4_mb_gets_them_through_the_api_and_completes(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/big.state")

    (run,) = engine.wait_for_runs("-big-state", 1)
    assert run.status == Run.Status.COMPLETED, run.error
    assert run.output == 4_400_000
    # The last request carries 4.4 MB of memos: sent inline, Django's 2.5 MB request limit would refuse it.
    for chunk in ("chunk-0", "chunk-1", "after"):
        assert recorder.count(run.run_id, chunk) == 1, chunk
