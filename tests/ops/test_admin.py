"""The monitoring admin: pages render for staff, refuse others, and replays emit once, only after confirmation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from jobs.models import EventLog, JobRun, RunReplay

pytestmark = pytest.mark.django_db


def test_dashboard_shows_counts_failure_rate_and_failing_tenants(client, operator, tenant, make_event_log, make_run):
    make_run(event_log=make_event_log(tenant=tenant))
    make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.COMPLETED)
    make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.COMPLETED, function_id="crm-sync-push")
    client.force_login(operator)

    response = client.get(reverse("admin:jobs_jobrun_dashboard"))

    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary["total"] == 3
    assert summary["by_status"]["failed"] == 1 and summary["by_status"]["completed"] == 2
    assert round(summary["failure_rate"], 3) == round(1 / 3, 3)
    assert summary["failing_tenants"][0]["tenant_id"] == tenant.id
    assert {row["function_id"] for row in summary["functions"]} == {"contact-category-assigned", "crm-sync-push"}
    assert sum(bucket.runs for bucket in summary["hourly"]) == 3
    body = response.content.decode()
    assert 'id="nh-open-failure-rate">33%' in body and tenant.name in body
    assert "30.0 s" in body  # the completed runs' average duration (each ran 30 s)


def test_admin_index_links_the_dashboard_for_staff(client, staff_user):
    client.force_login(staff_user)
    body = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:jobs_jobrun_dashboard") in body


@pytest.mark.parametrize(
    "url_name", ["admin:jobs_jobrun_dashboard", "admin:jobs_failedjobrun_changelist", "admin:jobs_eventlog_changelist"]
)
def test_pages_refuse_non_staff_and_staff_without_permission(client, make_user, url_name):
    client.force_login(make_user())
    assert client.get(reverse(url_name)).status_code == 302  # to the admin login

    client.force_login(make_user(is_staff=True))
    assert client.get(reverse(url_name)).status_code == 403


def test_failed_runs_view_lists_only_failed_runs_filtered_by_tenant(client, staff_user, tenant, other_tenant, make_run):
    mine = make_run(tenant=tenant)
    make_run(tenant=tenant, status=JobRun.Status.COMPLETED)
    make_run(tenant=other_tenant)
    client.force_login(staff_user)

    response = client.get(reverse("admin:jobs_failedjobrun_changelist"), {"tenant__id__exact": tenant.id})

    assert response.status_code == 200
    assert [run.pk for run in response.context["cl"].result_list] == [mine.pk]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "failed"}, {"failed"}),
        ({"error_type": "CrmAuthError"}, {"failed"}),
        ({"function_id": "crm-sync-push"}, {"completed"}),
        ({"within": "1h"}, {"failed", "completed"}),
    ],
)
def test_runs_filters(client, staff_user, tenant, make_run, params, expected):
    make_run(tenant=tenant)
    make_run(tenant=tenant, status=JobRun.Status.COMPLETED, function_id="crm-sync-push")
    # A run from two hours ago, of a function and status of its own: every filter above must leave it out.
    old = make_run(tenant=tenant, status=JobRun.Status.CANCELLED, function_id="lead-intent-score")
    JobRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(hours=2))
    client.force_login(staff_user)

    response = client.get(reverse("admin:jobs_jobrun_changelist"), params)

    assert {run.status for run in response.context["cl"].result_list} == expected


def test_run_page_shows_the_step_timeline_with_errors_and_delays(client, staff_user, tenant, make_event_log, make_run):
    run = make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(staff_user)

    body = client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()

    assert "nh-timeline" in body
    assert "CrmTransientError: 503 from Street" in body and "CrmAuthError: 401 from Street" in body
    assert "Traceback (most recent call last)" in body
    assert "Waited before" in body and "19.9 s" in body  # attempt 2 began 19.88 s after attempt 1 ended
    assert body.index('id="nh-timeline"') < body.index('id="nh-payload"')  # the timeline comes first
    assert reverse("admin:tenants_tenant_change", args=[tenant.id]) in body
    assert "nh-replay-run" not in body  # no replay permission


def test_event_log_detail_shows_full_payload_errors_and_triggered_runs(
    client, staff_user, tenant, make_event_log, make_run
):
    row = make_event_log(tenant=tenant)
    row.payload["note"] = "x" * 5000
    row.save()
    run = make_run(event_log=row)
    rejected = EventLog.objects.create(
        name="contact/category.assigned",
        status=EventLog.Status.REJECTED,
        payload={"tenantId": "nope"},
        errors=[{"loc": ["tenantId"], "msg": "Input should be a valid UUID"}],
    )
    client.force_login(staff_user)

    body = client.get(reverse("admin:jobs_eventlog_change", args=[row.pk])).content.decode()
    assert "x" * 5000 in body  # never truncated
    assert run.run_id in body and reverse("admin:jobs_jobrun_change", args=[run.pk]) in body

    body = client.get(reverse("admin:jobs_eventlog_change", args=[rejected.pk])).content.decode()
    assert "Input should be a valid UUID" in body


def test_event_log_search_by_contact_id_tenant_and_payload_text(
    client, staff_user, tenant, other_tenant, make_event_log
):
    contact_id = uuid.uuid4()
    wanted = make_event_log(tenant=tenant, contact_id=contact_id)
    other = make_event_log(tenant=other_tenant)
    client.force_login(staff_user)
    url = reverse("admin:jobs_eventlog_changelist")

    def found(term):
        return {row.pk for row in client.get(url, {"q": term}).context["cl"].result_list}

    assert found(str(contact_id)) == {wanted.pk}
    assert found(str(other_tenant.id)) == {other.pk}
    assert found(other_tenant.slug) == {other.pk}
    assert found(f"payload:{str(contact_id)[:13]}") == {wanted.pk}
    assert found("contact/category") == {wanted.pk, other.pk}


def test_replay_one_run_asks_first_then_reruns_that_run_only(
    client, operator, tenant, make_event_log, make_run, event_api
):
    run = make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(operator)
    url = reverse("admin:jobs_jobrun_replay", args=[run.pk])

    assert "nh-replay-run" in client.get(reverse("admin:jobs_jobrun_change", args=[run.pk])).content.decode()
    page = client.get(url)
    assert page.status_code == 200 and page.context["runs_count"] == 1
    assert "no other function runs" in page.content.decode()
    assert event_api.reruns == []  # nothing before confirmation

    response = client.post(url, {"confirm": "yes"}, follow=True)

    assert event_api.reruns == [run.run_id] and event_api.received == []
    replay = RunReplay.objects.get(original=run)
    assert replay.state == RunReplay.State.STARTED and replay.requested_by == operator.get_username()
    assert "Replayed 1 run(s)" in response.content.decode() and replay.run_id in response.content.decode()


def test_replay_is_refused_without_the_permission(client, staff_user, tenant, make_event_log, make_run, event_api):
    run = make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(staff_user)

    assert client.post(reverse("admin:jobs_jobrun_replay", args=[run.pk]), {"confirm": "yes"}).status_code == 403
    changelist = client.get(reverse("admin:jobs_failedjobrun_changelist"))
    assert "replay_runs" not in dict(changelist.context["cl"].model_admin.get_actions(changelist.wsgi_request))
    assert event_api.reruns == [] and not RunReplay.objects.exists()


def test_bulk_replay_of_a_filtered_set_confirms_counts_then_reruns_each_run_once(
    client, operator, tenant, other_tenant, make_event_log, make_run, event_api
):
    shared = make_event_log(tenant=tenant)
    routing = make_run(event_log=shared)
    crm = make_run(event_log=shared, function_id="crm-sync-push")  # two failed runs of one event: two reruns
    third = make_run(event_log=make_event_log(tenant=tenant))
    make_run(event_log=make_event_log(tenant=other_tenant))  # filtered out
    client.force_login(operator)
    url = reverse("admin:jobs_failedjobrun_changelist") + f"?tenant__id__exact={tenant.id}"
    post = {"action": "replay_runs", "select_across": "1", "index": "0", ACTION_CHECKBOX_NAME: ["0"]}

    page = client.post(url, post)
    assert page.status_code == 200
    assert page.context["runs_count"] == 3
    assert "no other function runs" in page.content.decode()
    assert event_api.reruns == []

    client.post(url, {**post, "confirm": "yes"})

    assert sorted(event_api.reruns) == sorted([routing.run_id, crm.run_id, third.run_id])
    assert event_api.received == []


def test_bulk_replay_of_too_many_runs_is_refused_before_anything(
    client, operator, tenant, make_event_log, make_run, event_api, monkeypatch
):
    monkeypatch.setattr("jobs.admin.runs.MAX_BULK_RUN_REPLAY", 2)
    for _ in range(3):
        make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(operator)
    post = {"action": "replay_runs", "select_across": "1", "index": "0", ACTION_CHECKBOX_NAME: ["0"], "confirm": "yes"}

    response = client.post(reverse("admin:jobs_failedjobrun_changelist"), post, follow=True)

    assert "Refused: 3 runs selected, more than 2 at once" in response.content.decode()
    assert event_api.reruns == [] and not RunReplay.objects.exists()


def test_pages_are_titled_for_nurturehub_and_the_header_has_no_dead_view_site_link(client, staff_user):
    client.force_login(staff_user)

    for url in (reverse("admin:index"), reverse("admin:jobs_failedjobrun_changelist")):
        body = client.get(url).content.decode()
        title = body.split("<title>", 1)[1].split("</title>", 1)[0]
        assert title.strip().endswith("| NurtureHub operations") and "Django" not in title
        assert "View site" not in body


def test_objects_are_named_by_their_agency_and_contact_not_by_uuids(client, tenant):
    from tenants.services import sequence_record_failure
    from tests.factories import ContactFactory, CrmConnectionFactory, UserFactory

    connection = CrmConnectionFactory(tenant=tenant)
    contact = ContactFactory(tenant=tenant, first_name="Nadia", last_name="Shah")
    sequence = sequence_record_failure(
        tenant=tenant, contact_id=contact.id, category="seller", source_event_id="evt-1", error="503"
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert str(connection) == f"{connection.get_provider_display()} for {tenant.name}"
    assert str(sequence) == "Seller sequence for Nadia Shah (failed)"
    page = client.get(reverse("admin:crm_adapters_crmconnection_change", args=[connection.pk])).content.decode()
    assert f"for {tenant.name}" in page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert str(tenant.id) not in page.split("<title>", 1)[1].split("</title>", 1)[0]


def test_the_event_log_re_sends_an_event_under_a_new_id_with_its_lineage(
    client, operator, tenant, make_event_log, event_api, django_capture_on_commit_callbacks
):
    original = make_event_log(tenant=tenant)
    operator.user_permissions.add(*Permission.objects.filter(codename="view_eventlog"))
    client.force_login(operator)
    post = {"action": "replay_events", "index": "0", ACTION_CHECKBOX_NAME: [str(original.pk)]}
    url = reverse("admin:jobs_eventlog_changelist")

    assert "every function that listens to the event runs again" in client.post(url, post).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**post, "confirm": "yes"}, follow=True)

    (sent,) = event_api.received
    assert sent["id"] != original.event_id and sent["data"]["contactId"] == original.payload["contactId"]
    assert EventLog.objects.get(event_id=sent["id"]).replay_of == original
    assert "Re-sent 1 event(s) under new event ids" in response.content.decode()
