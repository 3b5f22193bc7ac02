"""step.invoke through the engine: the target starts from `inngest/function.invoked`, and its result, its failure
or the invoke's timeout comes back to the caller through the pause (real SDK, real serve endpoint)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.engine.models import Event, Pause, QueueItem, Run, StepMemo

pytestmark = [pytest.mark.urls("tests.engine.urls"), pytest.mark.django_db(transaction=True)]


def test_the_caller_resumes_with_the_invoked_runs_output(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/invoker", {"n": 21})

    (caller,) = engine.wait_for_runs("-invoker", 1)
    assert caller.status == Run.Status.COMPLETED
    assert caller.output == {"result": {"doubled": 42}}
    (child,) = Run.objects.filter(function__slug__endswith="-doubler")
    # Started by its id (its trigger is never sent) with Inngest's invocation event.
    invoked = child.events[0]
    assert invoked["name"] == "inngest/function.invoked" and invoked["data"]["n"] == 21
    correlation = invoked["data"]["_inngest"]["correlation_id"]
    assert correlation.startswith(f"{caller.run_id}.")
    assert invoked["data"]["_inngest"]["fn_id"] == child.function.slug
    finished = Event.objects.get(name="inngest/function.finished", data__run_id=child.run_id)
    assert finished.data["correlation_id"] == correlation and finished.data["result"] == {"doubled": 42}
    assert not Pause.objects.exists() and not QueueItem.objects.exists()


def test_the_invoked_runs_failure_is_raised_in_the_caller(engine, recorder):
    engine.start_dispatcher()

    engine.send("test/invoker", {"n": 3, "fail": True})

    (caller,) = engine.wait_for_runs("-invoker", 1)
    (child,) = Run.objects.filter(function__slug__endswith="-doubler")
    assert child.status == Run.Status.FAILED
    assert caller.status == Run.Status.FAILED
    (raised,) = [e for e in recorder.executions if e["step"] == "invoke-error"]
    assert (raised["name"], raised["message"]) == ("ValueError", "cannot double 3")
    assert caller.error["message"] == "cannot double 3"


def test_an_invoke_that_times_out_raises_a_timeout_error_and_a_late_finish_changes_nothing(
    engine, recorder, engine_settings, wait_until
):
    engine_settings.ENGINE_DELAY_SCALE = 1.0  # the child's nap and the invoke's timeout last an hour
    engine.start_dispatcher()
    engine.send("test/invoker", {"n": 1, "sleep": True})
    wait_until(
        lambda: (
            QueueItem.objects.filter(run__function__slug__endswith="-doubler", lease_owner=None).exists()
            and Pause.objects.exists()
        ),
        message="the child asleep and the caller waiting",
    )
    caller = Run.objects.get(function__slug__endswith="-invoker")

    timeout = QueueItem.objects.filter(run=caller, step_id__startswith=QueueItem.PAUSE_TIMEOUT_PREFIX)
    assert timeout.update(available_at=timezone.now()) == 1  # the hour has passed

    (caller,) = engine.wait_for_runs("-invoker", 1)
    assert caller.status == Run.Status.FAILED
    (raised,) = [e for e in recorder.executions if e["step"] == "invoke-error"]
    assert raised["name"] == "InngestInvokeTimeoutError"
    assert raised["message"] == "Timed out waiting for invoked function to complete"

    # The child wakes and finishes after all: its finish finds no pause and the caller stays as it was.
    child = Run.objects.get(function__slug__endswith="-doubler")
    QueueItem.objects.filter(run=child).update(available_at=timezone.now())
    engine.wait_for_runs("-doubler", 1)
    memos = StepMemo.objects.filter(run=caller).count()
    assert Event.objects.filter(name="inngest/function.finished", data__run_id=child.run_id).exists()
    caller.refresh_from_db()
    assert caller.status == Run.Status.FAILED and StepMemo.objects.filter(run=caller).count() == memos
