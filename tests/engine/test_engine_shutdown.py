"""SIGTERM to a real `run_engine` process (issue 20): it stops claiming, keeps the lease of a step in flight for
its grace, and then hands it back at once. The step waits at a gate the test opens (no slept durations):
- default grace: the step outlives its original lease and completes, sent once (one "provider call");
- a short grace: the lease is released when the process exits, and a second dispatcher sends the step long
  before the lease (60 s here) could have run out."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.engine.models import QueueItem

from .dispatcher_process import dispatcher_process, stop_process

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def _held_step_one(engine, recorder, wait_until, gate: str) -> tuple[str, QueueItem]:
    engine.send("test/three.step", {"holdStepOne": gate})
    wait_until(lambda: len(recorder.executions) == 1, timeout=60, message="step one in flight")
    run_id = recorder.executions[0]["run_id"]
    return run_id, QueueItem.objects.get(run__run_id=run_id, lease_owner__isnull=False)


def test_sigterm_lets_a_step_in_flight_finish_within_the_default_grace(engine, recorder, wait_until):
    engine.start_dispatcher(start=False)  # sync only
    process = dispatcher_process(engine, lease_seconds=2)  # ENGINE_SHUTDOWN_GRACE: the default (90 s)
    try:
        run_id, item = _held_step_one(engine, recorder, wait_until, gate="slow-provider")
        process.terminate()
        # The original lease runs out by the clock while the draining process still holds it, renewed: before,
        # renewal stopped with the claims, the lease ran out and another dispatcher would send the step again.
        wait_until(
            lambda: (
                timezone.now() > item.lease_expires_at
                and QueueItem.objects.filter(
                    pk=item.pk, lease_owner=item.lease_owner, lease_expires_at__gt=item.lease_expires_at
                ).exists()
            ),
            timeout=60,
            message="the lease renewed past its original expiry while draining",
        )
        assert process.poll() is None  # still draining
        recorder.open("slow-provider")
        assert process.wait(timeout=60) == 0
    finally:
        recorder.open("slow-provider")
        stop_process(process)

    engine.start_dispatcher()  # steps two and three
    [run] = engine.wait_for_runs("-three-step", 1, timeout=60)
    assert run.status == "completed"
    assert recorder.count(run_id, "one") == 1


def test_after_a_short_grace_the_lease_is_released_and_another_dispatcher_sends_the_step(engine, recorder, wait_until):
    engine.start_dispatcher(start=False)
    process = dispatcher_process(engine, lease_seconds=60, ENGINE_SHUTDOWN_GRACE="1")
    try:
        run_id, item = _held_step_one(engine, recorder, wait_until, gate="never-answers-in-time")
        process.terminate()
        assert process.wait(timeout=60) == 0
        # Handed back at once, 60 s before its lease would have run out.
        assert QueueItem.objects.filter(pk=item.pk, lease_owner__isnull=True).exists()
        assert timezone.now() < item.lease_expires_at

        engine.start_dispatcher()
        wait_until(lambda: recorder.count(run_id, "one") == 2, timeout=30, message="the step sent again")
        assert timezone.now() < item.lease_expires_at  # by release, not by expiry
    finally:
        recorder.open("never-answers-in-time")
        stop_process(process)
    [run] = engine.wait_for_runs("-three-step", 1, timeout=60)
    assert run.status == "completed"


def test_stopping_a_dispatcher_twice_is_harmless(engine):
    """A shutdown ends in stop(), and whoever owns the dispatcher may stop it again (a harness, a finally block):
    the second stop does nothing. (It raised before: its thread pool was already shut down.)"""
    dispatcher = engine.start_dispatcher()

    assert dispatcher.shutdown(grace=1) == 0
    dispatcher.stop(timeout=1)
    dispatcher.stop(timeout=1)
