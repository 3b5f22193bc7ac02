"""Failed runs as a worklist: open -> replaying (its rerun started) -> resolved, or open again; lineage both ways."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from jobs.models import JobRun, RunReplay
from jobs.replay import runs_replay

pytestmark = pytest.mark.django_db

FAILED_LIST = "admin:jobs_failedjobrun_changelist"


def listed(client, **params):
    return {run.pk for run in client.get(reverse(FAILED_LIST), params).context["cl"].result_list}


def tracked(replay: RunReplay, make_run, status) -> JobRun:
    """The replay's run as run tracking records it (the same function and event as its original)."""
    run = make_run(event_log=replay.original.event_log, status=status, function_id=replay.original.function_id)
    JobRun.objects.filter(pk=run.pk).update(run_id=replay.run_id)
    run.run_id = replay.run_id
    return run


def test_a_replay_reruns_that_run_only_and_its_state_follows_the_new_run(
    client, operator, tenant, make_event_log, make_run, event_api
):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    other = make_run(event_log=make_event_log(tenant=tenant))
    client.force_login(operator)
    assert listed(client) == {failed.pk, other.pk}

    result = runs_replay(runs=[failed], requested_by="ops")

    (replay,) = result.started
    assert event_api.reruns == [failed.run_id] and event_api.received == []  # a rerun, no event re-sent
    assert replay.state == RunReplay.State.STARTED and replay.run_id
    assert listed(client) == {other.pk}
    assert listed(client, failure="replaying") == {failed.pk}  # started, not yet seen by run tracking
    rerun = tracked(replay, make_run, JobRun.Status.RUNNING)
    assert listed(client, failure="replaying") == {failed.pk}
    assert ">replaying</span>" in client.get(reverse(FAILED_LIST), {"failure": "replaying"}).content.decode()

    JobRun.objects.filter(pk=rerun.pk).update(status=JobRun.Status.COMPLETED)
    assert listed(client, failure="resolved") == {failed.pk} and listed(client) == {other.pk}
    original_page = client.get(reverse("admin:jobs_jobrun_change", args=[failed.pk])).content.decode()
    replay_page = client.get(reverse("admin:jobs_jobrun_change", args=[rerun.pk])).content.decode()
    assert reverse("admin:jobs_jobrun_change", args=[rerun.pk]) in original_page
    assert 'id="nh-replays"' in original_page and 'id="nh-open"' not in original_page
    assert 'id="nh-resolved"' in original_page and 'id="nh-replay-run"' not in original_page
    assert 'id="nh-replay-of"' in replay_page
    assert reverse("admin:jobs_jobrun_change", args=[failed.pk]) in replay_page


def test_a_replay_that_fails_opens_its_original_again_with_the_new_failure_linked(
    client, operator, tenant, make_event_log, make_run, event_api
):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    (replay,) = runs_replay(runs=[failed]).started
    failed_again = tracked(replay, make_run, JobRun.Status.FAILED)
    client.force_login(operator)

    assert listed(client) == {failed.pk}  # the original, once: the failed replay is linked to it, not counted
    assert listed(client, failure="all") == {failed.pk, failed_again.pk}
    page = client.get(reverse("admin:jobs_jobrun_change", args=[failed.pk])).content.decode()
    assert "Open again" in page and reverse("admin:jobs_jobrun_change", args=[failed_again.pk]) in page
    assert 'id="nh-replay-run"' in page

    second = runs_replay(runs=[failed_again])  # replaying the failed replay replays its original
    assert event_api.reruns == [failed.run_id, failed.run_id]
    assert [r.original_id for r in second.started] == [failed.pk]
    assert listed(client, failure="replaying") == {failed.pk}


def test_a_replay_that_starts_no_run_says_why_and_the_failure_stays_open(
    client, operator, tenant, make_event_log, make_run, event_api
):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    event_api.rerun_refusal = (409, "run was not rerun: Singleton run in progress")
    client.force_login(operator)
    post = {"action": "replay_runs", "index": "0", ACTION_CHECKBOX_NAME: [str(failed.pk)], "confirm": "yes"}

    response = client.post(reverse(FAILED_LIST), post, follow=True)

    page = response.content.decode()
    assert "No run started for 1 replay(s)" in page and "Singleton run in progress" in page
    (replay,) = RunReplay.objects.filter(original=failed)
    assert replay.state == RunReplay.State.REFUSED and "HTTP 409" in replay.reason
    assert listed(client) == {failed.pk}
    assert "replay refused: the Inngest server started no run: HTTP 409" in page

    event_api.rerun_refusal = None
    assert len(runs_replay(runs=[failed]).started) == 1  # refused is no obstacle to trying again


def test_replaying_twice_starts_one_run_and_says_the_failure_is_being_replayed(
    client, operator, tenant, make_event_log, make_run, event_api
):
    failed = make_run(event_log=make_event_log(tenant=tenant))
    fresh = make_run(event_log=make_event_log(tenant=tenant))
    runs_replay(runs=[failed])
    client.force_login(operator)
    post = {
        "action": "replay_runs",
        "index": "0",
        ACTION_CHECKBOX_NAME: [str(failed.pk), str(fresh.pk)],
        "confirm": "yes",
    }

    response = client.post(f"{reverse(FAILED_LIST)}?failure=all", post, follow=True)

    assert event_api.reruns == [failed.run_id, fresh.run_id]
    assert "is being replayed" in response.content.decode()
    assert RunReplay.objects.filter(original=failed).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_operators_replaying_one_failure_at_once_start_one_run(
    tenant, make_event_log, make_run, event_api, monkeypatch
):
    """The second operator's replay comes while the first one's request is on its way to the server."""
    from jobs import replay as replay_module

    failed = make_run(event_log=make_event_log(tenant=tenant))
    asked, answer = threading.Event(), threading.Event()
    real_request = replay_module.run_rerun_request

    def slow_request(*, run_id):
        asked.set()
        assert answer.wait(60)
        return real_request(run_id=run_id)

    monkeypatch.setattr(replay_module, "run_rerun_request", slow_request)
    results = []

    def first_operator():
        try:
            results.append(runs_replay(runs=[failed], requested_by="first"))
        finally:
            connections.close_all()  # this thread's own connection

    first = threading.Thread(target=first_operator)
    first.start()
    assert asked.wait(60)
    try:
        second = runs_replay(runs=[failed], requested_by="second")
    finally:
        answer.set()
        first.join(60)

    assert second.started == [] and "is being replayed: a replay was just asked" in second.skipped[0]
    assert len(results[0].started) == 1 and event_api.reruns == [failed.run_id]


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


def test_dashboard_counts_open_failures_whatever_their_age_and_links_the_oldest(
    client, operator, tenant, make_event_log, make_run, event_api
):
    first = make_run(event_log=make_event_log(tenant=tenant))
    old = make_run(event_log=make_event_log(tenant=tenant))
    JobRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=3))
    make_run(event_log=make_event_log(tenant=tenant), status=JobRun.Status.COMPLETED)
    client.force_login(operator)
    url = reverse("admin:jobs_jobrun_dashboard")
    response = client.get(url)
    assert response.context["summary"]["open_failures"] == 2
    assert response.context["summary"]["oldest_open_failure"] == old
    assert f'href="{reverse("admin:jobs_jobrun_change", args=[old.pk])}" id="nh-oldest-open-failure"' in (
        response.content.decode()
    )
    assert [row["failures"] for row in response.context["summary"]["failing_tenants"]] == [2]
    assert listed(client) == {first.pk, old.pk}  # the worklist's default: any age

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
