"""step.wait_for_event through the engine, with the real SDK and serve endpoint: Inngest's matching rules.

Timeouts are made due by the test (`_timeout_due`) rather than waited out, so no assertion races a clock.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.engine.models import Pause, QueueItem, Run, RunSpan

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_delays(engine_settings):
    """A one-hour wait lasts an hour: nothing times out unless the test makes it due."""
    engine_settings.ENGINE_DELAY_SCALE = 1.0
    return engine_settings


def _waiting_run(wait_until) -> Run:
    wait_until(lambda: Pause.objects.filter(run__function__slug__endswith="-approval").exists(), message="the wait")
    return Run.objects.get(function__slug__endswith="-approval")


def _timeout_due(run: Run) -> None:
    """The pause's timeout is due now (what the hour passing would do)."""
    due = QueueItem.objects.filter(run=run, step_id__startswith=QueueItem.PAUSE_TIMEOUT_PREFIX)
    assert due.update(available_at=timezone.now()) == 1


def test_an_event_matching_name_and_if_resumes_the_run_with_that_event(engine, real_delays, wait_until):
    engine.start_dispatcher()
    engine.send("test/approval.requested", {"requestId": "r1"})
    run = _waiting_run(wait_until)

    event_id = engine.send("test/approval.given", {"requestId": "r1", "by": "ann"})

    (run,) = engine.wait_for_runs("-approval", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == {"approved": {"id": event_id, "data": {"requestId": "r1", "by": "ann"}}}
    assert not Pause.objects.exists() and not QueueItem.objects.exists()
    # The trace shows the wait (until its timeout) and its outcome, the event, for the admin's timeline.
    waits = list(RunSpan.objects.filter(run=run, op="WaitForEvent").order_by("id"))
    assert [span.status for span in waits] == ["sleeping", "completed"]
    assert waits[0].wake_at is not None and waits[0].wake_at > waits[0].started_at
    assert waits[1].output["id"] == event_id and waits[1].output["name"] == "test/approval.given"


def test_events_not_matching_name_or_if_leave_it_waiting_and_the_timeout_gives_null(engine, real_delays, wait_until):
    engine.start_dispatcher()
    engine.send("test/approval.requested", {"requestId": "r1"})
    run = _waiting_run(wait_until)

    engine.send("test/approval.given", {"requestId": "r2"})  # the name matches, the `if` does not
    engine.send("test/approval.refused", {"requestId": "r1"})  # the `if` would match, the name does not

    # Intake matches pauses before it answers: had either event matched, the pause would be gone by now.
    run.refresh_from_db()
    assert Pause.objects.filter(run=run).count() == 1 and run.status == Run.Status.RUNNING
    _timeout_due(run)
    (run,) = engine.wait_for_runs("-approval", 1)
    assert run.status == Run.Status.COMPLETED
    assert run.output == {"approved": None}
    outcome = RunSpan.objects.filter(run=run, op="WaitForEvent", status="completed").get()
    assert outcome.output is None


def test_an_event_sent_before_the_wait_began_does_not_match(engine, recorder, real_delays, wait_until):
    engine.start_dispatcher()
    engine.send("test/approval.requested", {"requestId": "r1", "holdBeforeWait": "before-wait"})
    wait_until(lambda: len(recorder.executions) == 1, message="the step before the wait")
    engine.send("test/approval.given", {"requestId": "r1"})  # would match, but no wait has begun yet

    recorder.open("before-wait")
    run = _waiting_run(wait_until)
    _timeout_due(run)

    (run,) = engine.wait_for_runs("-approval", 1)
    assert run.output == {"approved": None}  # Inngest never looks back at events stored before the pause


def test_a_wait_whose_if_is_not_cel_fails_its_step_with_the_reason_and_never_waits(engine):
    engine.start_dispatcher()

    engine.send("test/bad.wait")

    (run,) = engine.wait_for_runs("-bad-wait", 1)
    assert run.status == Run.Status.FAILED
    assert "wait_for_event `if` 'event.data.id ==' is not valid CEL" in run.error["message"]
    assert not Pause.objects.exists() and not QueueItem.objects.exists()
