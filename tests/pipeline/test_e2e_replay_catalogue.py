"""Every function of the catalogue, end to end: a run fails, the admin's replay reruns it, and exactly one new run of
that function completes; no other function runs, except what the replayed run itself emits (its own work).

The real serve endpoint over HTTP, run by the local engine (dispatcher threads), on real PostgreSQL. Runs of an
agency's functions fail because the agency is paused (JOBS_PAUSE_MAX_WAITS = 0: the first request fails as
TenantPaused, the run's own flow control already applied); the two crons fail in a step, a fault injected in the
live server's process. The cause is then removed and the failed run replayed.
"""

from __future__ import annotations

from collections.abc import Callable

import inngest
import pytest
from django.utils import timezone

from jobs.emit import emit
from jobs.engine.models import Run, Trigger
from jobs.engine.services.cron import cron_fire_due
from jobs.events import AlertHotLeadFire, CrmSyncPush, LeadIntentScore, NurtureSequenceGenerate
from jobs.functions import ALL_FUNCTIONS
from jobs.models import EventLog, JobRun
from jobs.replay import runs_replay
from tenants.services import contact_assign_category
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.urls("tests.pipeline.urls"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive"),
]


def _assign(tenant, contact) -> None:
    contact_assign_category(tenant=tenant, contact_id=contact.id, category="buyer")


def _generate(tenant, contact) -> None:
    emit(
        NurtureSequenceGenerate,
        {
            "tenant_id": tenant.id,
            "contact_id": contact.id,
            "category": "buyer",
            "brand_voice": tenant.brand_voice,
            "assignment_id": 7001,
            "source": "api",
            "triggered_at": timezone.now(),
        },
    )


def _crm_push(tenant, contact) -> None:
    emit(CrmSyncPush, {"tenant_id": tenant.id, "contact_id": contact.id, "requested_at": timezone.now()})


def _score(tenant, contact) -> None:
    emit(
        LeadIntentScore,
        {"tenant_id": tenant.id, "contact_id": contact.id, "reason": "recalculate", "occurred_at": timezone.now()},
    )


def _alert(tenant, contact) -> None:
    emit(
        AlertHotLeadFire,
        {"tenant_id": tenant.id, "contact_id": contact.id, "score": 91, "threshold": 80, "fired_at": timezone.now()},
    )


def _cron(function_id: str) -> Callable:
    def fire(tenant, contact) -> None:
        triggers = Trigger.objects.filter(function__slug__endswith=function_id)
        triggers.update(next_fire_at=timezone.now())
        # The running dispatcher sweeps due crons itself, as soon as one is due (wakeup.py), so this call or its
        # sweep fires it; either way once (a locked, due trigger is skipped): the test counts the runs after.
        cron_fire_due()
        wait_for(lambda: triggers.filter(next_fire_at__gt=timezone.now()).exists(), message=f"{function_id} fired")

    return fire


#: function id -> (what starts a run of it, the step fault that fails it; None: the agency is paused instead).
CASES: dict[str, tuple[Callable, str | None]] = {
    "contact-category-assigned": (_assign, None),
    "nurture-sequence-generate": (_generate, None),
    "crm-sync-push": (_crm_push, None),
    "lead-intent-score": (_score, None),
    "alert-hot-lead-fire": (_alert, None),
    "intent-score-decay": (_cron("intent-score-decay"), "jobs.functions.scoring._decay_batch"),
    "history-prune": (_cron("history-prune"), "jobs.functions.retention._prune_step"),
}


def test_the_cases_are_the_whole_catalogue():
    assert {f"nurturehub-{name}" for name in CASES} == {function.id for function in ALL_FUNCTIONS}


def _injected_fault(*args, **kwargs):
    raise inngest.NonRetriableError("injected fault (the test's)")


def _all_runs_finished() -> bool:
    return not Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).exists()


@pytest.mark.parametrize("function_id", list(CASES))
def test_a_failed_run_of_each_function_replays_into_exactly_one_new_run(
    function_id, engine, tenant, make_contact, template_writer, settings, monkeypatch
):
    trigger, fault = CASES[function_id]
    contact = make_contact(tenant=tenant)
    settings.JOBS_PAUSE_MAX_WAITS = 0
    if fault is None:
        tenant.jobs_paused = True
        tenant.save(update_fields=["jobs_paused"])
    else:
        monkeypatch.setattr(fault, _injected_fault)

    trigger(tenant, contact)

    wait_for(
        lambda: JobRun.objects.filter(function_id=function_id, status=JobRun.Status.FAILED).exists(),
        message=f"a failed {function_id} run",
    )
    wait_for(_all_runs_finished, message="every engine run to finish")
    (original,) = JobRun.objects.filter(function_id=function_id)
    before = set(Run.objects.values_list("run_id", flat=True))
    if fault is None:
        tenant.jobs_paused = False
        tenant.save(update_fields=["jobs_paused"])
    else:
        monkeypatch.undo()

    result = runs_replay(runs=[original])

    wait_for(
        lambda: JobRun.objects.filter(function_id=function_id).exclude(pk=original.pk).exists(),
        message=f"the replay's {function_id} run to be tracked",
    )
    wait_for(_all_runs_finished, message="every engine run to finish")
    new_runs = list(Run.objects.exclude(run_id__in=before).select_related("function", "event"))
    replays = [run for run in new_runs if run.function.slug.endswith(f"-{function_id}")]
    assert [run.status for run in replays] == [Run.Status.COMPLETED], [run.error for run in replays]
    (replay,) = replays
    assert replay.event_id == Run.objects.get(run_id=original.run_id).event_id  # the original event
    assert JobRun.objects.get(run_id=replay.run_id).status == JobRun.Status.COMPLETED
    assert list(JobRun.objects.failures_open()) == []
    assert list(JobRun.objects.failures_resolved()) == [original]
    # Any other new run was started by an event the replayed run emitted (its work), never by the replay itself.
    for other in (run for run in new_runs if run is not replay):
        emitted = EventLog.objects.filter(event_id=other.event.external_id).first() if other.event else None
        assert emitted is not None and emitted.source == f"run:{replay.run_id}", (
            other.function.slug,
            other.event.name if other.event else None,
        )
    assert len(result.started) == 1 and result.started[0].run_id == replay.run_id
