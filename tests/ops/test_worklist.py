"""Failed runs as a worklist: a failure is open until it is replayed or dismissed; lineage both ways."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from jobs.models import EventLog, JobRun
from jobs.replay import runs_replay

pytestmark = pytest.mark.django_db

FAILED_LIST = "admin:jobs_failedjobrun_changelist"


def listed(client, **params):
    return {run.pk for run in client.get(reverse(FAILED_LIST), params).context["cl"].result_list}


def replay_of(run, make_run, status):
    """The run a replay of `run`'s event starts for the same function (as run tracking records it)."""
    replay_event = EventLog.objects.get(replay_of=run.event_log)
    return make_run(event_log=replay_event, status=status, function_id=run.function_id)


def test_a_replayed_failure_leaves_the_open_list_and_links_both_ways(
    client, operator, tenant, make_event_log, make_run, event_api, django_capture_on_commit_callbacks
):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    other = make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(operator)
    assert listed(client) == {failed.pk, other.pk}

    with django_capture_on_commit_callbacks(execute=True):
        result = runs_replay(runs=[failed])

    assert result.replayed == 1
    assert listed(client) == {other.pk}  # open failures only, by default
    assert listed(client, failure="replayed") == {failed.pk}
    assert ">replaying</span>" in client.get(reverse(FAILED_LIST), {"failure": "replayed"}).content.decode()
    replay = replay_of(failed, make_run, JobRun.Status.COMPLETED)
    assert listed(client, failure="resolved") == {failed.pk}

    original_page = client.get(reverse("admin:jobs_jobrun_change", args=[failed.pk])).content.decode()
    replay_page = client.get(reverse("admin:jobs_jobrun_change", args=[replay.pk])).content.decode()
    assert reverse("admin:jobs_jobrun_change", args=[replay.pk]) in original_page
    assert 'id="nh-replays"' in original_page and 'id="nh-open"' not in original_page
    assert 'id="nh-resolved"' in original_page and 'id="nh-replay-run"' not in original_page
    assert 'id="nh-replay-of"' in replay_page
    assert reverse("admin:jobs_jobrun_change", args=[failed.pk]) in replay_page


def test_a_replay_that_fails_is_the_open_failure_in_its_originals_place(
    client, operator, tenant, make_event_log, make_run, event_api, django_capture_on_commit_callbacks
):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    with django_capture_on_commit_callbacks(execute=True):
        runs_replay(runs=[failed])
    failed_again = replay_of(failed, make_run, JobRun.Status.FAILED)
    client.force_login(operator)

    assert listed(client) == {failed_again.pk}


def test_bulk_replay_skips_a_run_replayed_already(
    client, operator, tenant, make_event_log, make_run, event_api, django_capture_on_commit_callbacks
):
    replayed = make_run(event_log=make_event_log(tenant=tenant))
    fresh = make_run(event_log=make_event_log(tenant=tenant))
    with django_capture_on_commit_callbacks(execute=True):
        runs_replay(runs=[replayed])
    event_api.received.clear()
    client.force_login(operator)
    post = {
        "action": "replay_runs",
        "index": "0",
        ACTION_CHECKBOX_NAME: [str(replayed.pk), str(fresh.pk)],
        "confirm": "yes",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{reverse(FAILED_LIST)}?failure=all", post, follow=True)

    assert [event["data"]["contactId"] for event in event_api.received] == [fresh.event_log.payload["contactId"]]
    assert "replayed already" in response.content.decode()
    assert EventLog.objects.filter(replay_of=replayed.event_log).count() == 1


def test_dismissing_needs_a_reason_and_closes_the_failure(client, operator, tenant, make_event_log, make_run):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(operator)
    post = {"action": "dismiss_failures", "index": "0", ACTION_CHECKBOX_NAME: [str(failed.pk)], "confirm": "yes"}

    page = client.post(reverse(FAILED_LIST), post)  # no reason: the confirmation page again, nothing dismissed
    assert 'id="nh-dismiss-confirmation"' in page.content.decode()
    assert listed(client) == {failed.pk}

    client.post(reverse(FAILED_LIST), {**post, "reason": "contact deleted at the agency's request"})

    failed.refresh_from_db()
    assert failed.dismissed_reason == "contact deleted at the agency's request"
    assert failed.dismissed_by == operator.get_username()
    assert listed(client) == set() and listed(client, failure="dismissed") == {failed.pk}
    page = client.get(reverse("admin:jobs_jobrun_change", args=[failed.pk])).content.decode()
    assert "contact deleted at the agency&#x27;s request" in page


def test_dashboard_counts_open_failures(
    client, operator, tenant, make_event_log, make_run, event_api, django_capture_on_commit_callbacks
):
    first = make_run(event_log=make_event_log(tenant=tenant))
    make_run(event_log=make_event_log(tenant=tenant))
    make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.COMPLETED)
    client.force_login(operator)
    url = reverse("admin:jobs_jobrun_dashboard")
    assert client.get(url).context["summary"]["open_failures"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        runs_replay(runs=[first])

    response = client.get(url)
    assert response.context["summary"]["open_failures"] == 1
    assert 'id="nh-open-failures">1<' in response.content.decode()


def test_the_run_page_dismisses_its_failure_with_a_reason(
    client, operator, make_user, tenant, make_event_log, make_run
):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    url = reverse("admin:jobs_jobrun_dismiss", args=[failed.pk])
    client.force_login(operator)
    assert 'id="nh-dismiss-run"' in client.get(reverse("admin:jobs_jobrun_change", args=[failed.pk])).content.decode()

    assert 'id="nh-dismiss-confirmation"' in client.get(url).content.decode()
    response = client.post(url, {"confirm": "yes", "reason": "duplicate contact, merged at the agency"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:jobs_jobrun_change", args=[failed.pk])
    assert 'id="nh-dismissed"' in response.content.decode() and 'id="nh-dismiss-run"' not in response.content.decode()
    viewer = make_user(is_staff=True)  # may look at runs, not replay or dismiss them
    viewer.user_permissions.add(Permission.objects.get(codename="view_jobrun"))
    client.force_login(viewer)
    assert client.get(url).status_code == 403
