"""The run page: timeline labels that say what happened, and one search for ids, emails and names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.admin.timeline import run_timeline
from jobs.models import JobRun, StepAttempt
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_an_exhausted_attempt_does_not_promise_a_retry_and_the_run_counts_its_failed_attempts(
    client, staff_user, tenant, make_event_log, make_run
):
    run = make_run(event_log=make_event_log(tenant=tenant))
    StepAttempt.objects.filter(run=run, attempt=2).update(error="CrmAuthError: 401 from Street (retry in 160.000s)")
    client.force_login(staff_user)

    entries = run_timeline(run)
    body = client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    exhausted = entries[1]
    assert exhausted.status_label == "failed; no retries left" and "retry in" not in exhausted.error
    assert entries[0].status_label.startswith("failed; retry at")
    assert (entries[-1].title, entries[-1].status_label) == ("Run failed", "failed: CrmAuthError")
    assert "2 failed attempts (1 retried)" in body


def test_a_run_that_failed_once_counts_one_failed_attempt(client, staff_user, tenant, make_event_log, make_run):
    run = make_run(event_log=make_event_log(tenant=tenant))
    StepAttempt.objects.filter(run=run, attempt=1).delete()
    client.force_login(staff_user)

    body = client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    assert "1 failed attempt<" in body


def test_a_cancelled_run_ends_its_timeline_with_the_cancellation(tenant, make_event_log, make_run):
    run = make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.CANCELLED)

    assert [(entry.title, entry.status) for entry in run_timeline(run)] == [("Run cancelled", "cancelled")]


def test_a_sleeping_run_reads_sleeping_until_its_wake_time(client, staff_user, tenant, make_event_log, make_run):
    run = make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.RUNNING)
    now = timezone.now()
    wake = now + timedelta(minutes=5)
    StepAttempt.objects.create(
        run=run,
        step_id="tenant-paused-1",
        step_name="sleep",
        attempt=1,
        status="completed",
        started_at=now,
        next_retry_at=wake,
    )
    client.force_login(staff_user)

    body = client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    assert f"sleeping until {timezone.localtime(wake):%H:%M:%S}" in body
    assert 'id="nh-run-status">sleeping until' in body
    assert "data-nh-live" in body  # an unfinished run refreshes itself


@pytest.mark.parametrize("spelling", ["dashed", "hex"])
def test_runs_and_events_are_found_by_event_id_in_either_spelling(
    client, staff_user, tenant, make_event_log, make_run, spelling
):
    event = make_event_log(tenant=tenant, event_id="0f0e0d0c-0b0a-4908-8706-050403020100")
    run = make_run(event_log=event)
    make_run(event_log=make_event_log(tenant=tenant))
    term = event.event_id if spelling == "dashed" else event.event_id.replace("-", "")
    client.force_login(staff_user)

    runs = client.get(reverse("admin:jobs_jobrun_changelist"), {"q": term}).context["cl"].result_list
    events = client.get(reverse("admin:jobs_eventlog_changelist"), {"q": term}).context["cl"].result_list

    assert [row.pk for row in runs] == [run.pk]
    assert [row.pk for row in events] == [event.pk]


def test_runs_are_found_by_contact_email_name_and_run_id(client, staff_user, tenant, make_event_log, make_run):
    contact = ContactFactory(tenant=tenant, first_name="Imogen", last_name="Hartley-Smythe", email="imogen@example.org")
    wanted = make_run(event_log=make_event_log(tenant=tenant, contact_id=contact.pk))
    make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(staff_user)

    def found(term):
        return [
            row.pk for row in client.get(reverse("admin:jobs_jobrun_changelist"), {"q": term}).context["cl"].result_list
        ]

    assert found("IMOGEN@example.org") == [wanted.pk]
    assert found("imogen hartley") == [wanted.pk]
    assert found(wanted.run_id) == [wanted.pk]


def test_run_page_links_contact_sync_log_and_the_run_that_emitted_its_event(
    client, staff_user, tenant, make_event_log, make_run
):
    contact = ContactFactory(tenant=tenant)
    parent = make_run(event_log=make_event_log(tenant=tenant, contact_id=contact.pk), status=JobRun.Status.COMPLETED)
    child_event = make_event_log(tenant=tenant, contact_id=contact.pk, source=f"run:{parent.run_id}")
    run = make_run(event_log=child_event, function_id="crm-sync-push")
    client.force_login(staff_user)

    body = client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    assert reverse("admin:tenants_contact_change", args=[contact.pk]) in body
    assert reverse("admin:jobs_jobrun_change", args=[parent.pk]) in body
    assert reverse("admin:crm_adapters_crmsynclog_changelist") in body
    event_page = client.get(reverse("admin:jobs_eventlog_change", args=[child_event.pk])).content.decode()
    assert reverse("admin:jobs_jobrun_change", args=[parent.pk]) in event_page  # "Source: run:..." is a link


def test_attempts_are_grouped_under_their_step_with_the_cause_first_and_no_retry_promise(
    client, staff_user, tenant, make_event_log, make_run
):
    run = make_run(event_log=make_event_log(tenant=tenant))
    StepAttempt.objects.filter(run=run, attempt=1).update(
        error="RetryAfterError: CrmTransientError: 503 from Street (retry in 20.000s)"
    )
    StepAttempt.objects.filter(run=run, attempt=2).update(
        error="NonRetriableError: CrmAuthError: 401 from Street (retry in 40.000s)"
    )
    client.force_login(staff_user)

    entries = run_timeline(run)
    body = client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    assert [(entry.step, entry.attempt, entry.error) for entry in entries[:2]] == [
        ("push-contact", 1, "CrmTransientError: 503 from Street"),
        ("push-contact", 2, "CrmAuthError: 401 from Street"),
    ]
    assert body.count('<tr class="nh-step-group">') == 1 and ">push-contact</th>" in body
    assert "RetryAfterError" not in body and "retry in" not in body


@pytest.mark.parametrize(
    ("error_type", "function_id", "hint"),
    [
        ("openai.InternalServerError", "nurture-sequence-generate", "wait until it answers again, then replay"),
        ("openai.AuthenticationError", "nurture-sequence-generate", "rotate OPENAI_API_KEY"),
        ("CrmAuthError", "crm-sync-push", "rotate the key or token"),
        ("httpx.ConnectError", "crm-sync-push", "if the CRM is down, wait until it answers, then replay"),
    ],
)
def test_the_fix_hint_follows_the_cause(
    client, staff_user, tenant, make_event_log, make_run, error_type, function_id, hint
):
    from tests.factories import CrmConnectionFactory

    CrmConnectionFactory(tenant=tenant)
    run = make_run(event_log=make_event_log(tenant=tenant), function_id=function_id)
    JobRun.objects.filter(pk=run.pk).update(error_type=error_type)
    client.force_login(staff_user)

    body = client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    fix = body.split('id="nh-fix-setting"', 1)[1].split("</li>", 1)[0]
    assert hint in fix
    if error_type == "openai.InternalServerError":
        assert "error_type=openai.InternalServerError" in fix and "OPENAI_API_KEY" not in fix


def test_an_unfinished_run_reads_running_for_and_a_sleeping_one_sleeping_until_in_the_list_too(
    client, staff_user, tenant, make_event_log, make_run
):
    running = make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.RUNNING)
    sleeping = make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.RUNNING)
    wake = timezone.now() + timedelta(minutes=5)
    StepAttempt.objects.create(
        run=sleeping,
        step_id="tenant-paused-0",
        step_name="sleep",
        attempt=1,
        status="completed",
        started_at=timezone.now(),
        next_retry_at=wake,
    )
    client.force_login(staff_user)

    running_page = client.get(reverse("admin:jobs_jobrun_change", args=[running.pk])).content.decode()
    sleeping_page = client.get(reverse("admin:jobs_jobrun_change", args=[sleeping.pk])).content.decode()
    listing = client.get(reverse("admin:jobs_jobrun_changelist")).content.decode()

    assert 'id="nh-run-duration">running for' in running_page and "took" not in running_page
    assert f'id="nh-run-duration">sleeping until {timezone.localtime(wake):%H:%M:%S}, running for' in sleeping_page
    assert 'id="nh-replay-run"' not in sleeping_page  # a sleeping run has nothing to replay
    assert f">sleeping until {timezone.localtime(wake):%H:%M:%S}</span>" in listing
    assert listing.count(">running</span>") == 1  # the other one
