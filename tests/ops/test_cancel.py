"""Cancelling runs from the admin: real HTTP from jobs/cancel.py to the local engine's `DELETE /v1/runs/<id>`."""
# ruff: noqa: F811 - pytest fixtures imported from tests/engine/conftest.py are parameters here

from __future__ import annotations

import socket

import inngest.django
import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import include, path, reverse
from django.utils import timezone

from jobs.cancel import CancelError, api_origin, run_cancel_request
from jobs.engine.models import QueueItem, Run
from jobs.models import JobRun
from tests.engine.conftest import engine, engine_settings, recorder, wait_until  # noqa: F401 - the engine harness
from tests.engine.functions import FUNCTIONS, SERVE_PATH, client

# The admin, the engine's endpoints and the engine's test functions on one live server.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("jobs.engine.urls")),
    inngest.django.serve(client, FUNCTIONS, serve_path=SERVE_PATH),
]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def canceller(staff_user):
    """A staff member who may cancel runs."""
    staff_user.user_permissions.add(Permission.objects.get(codename="cancel_jobrun"))
    return staff_user


def _sleeping_run(engine, recorder, wait_until) -> Run:
    engine.start_dispatcher()
    # 10 minutes at the test delay scale: the run must still be asleep when the admin cancels it, however slow
    # the machine (tests that need it to wake move its queue item's time instead of waiting).
    engine.send("test/sleeper", {"seconds": 600_000})
    wait_until(lambda: Run.objects.filter(function__slug__endswith="-sleeper").exists(), message="run started")
    run = Run.objects.get(function__slug__endswith="-sleeper")
    wait_until(
        lambda: (
            recorder.count(run.run_id, "before-sleep") == 1
            and QueueItem.objects.filter(run=run, lease_owner=None).exists()
        ),
        message="the run is asleep",
    )
    return run


def _messages(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def test_a_sleeping_run_cancelled_from_the_admin_never_runs_its_next_step(
    client,
    canceller,
    make_run,
    engine,
    recorder,
    wait_until,
):
    engine_run = _sleeping_run(engine, recorder, wait_until)
    job_run = make_run(status=JobRun.Status.RUNNING)
    JobRun.objects.filter(pk=job_run.pk).update(run_id=engine_run.run_id)
    client.force_login(canceller)
    url = reverse("admin:jobs_jobrun_cancel", args=[job_run.pk])

    assert "nh-cancel-run" in client.get(reverse("admin:jobs_jobrun_change", args=[job_run.pk])).content.decode()
    page = client.get(url)
    assert page.status_code == 200
    assert "already executing" in page.content.decode() and engine_run.run_id in page.content.decode()
    engine_run.refresh_from_db()
    assert engine_run.status != Run.Status.CANCELLED  # nothing before confirmation

    response = client.post(url, {"confirm": "yes"}, follow=True)

    assert "Cancelled 1 run(s)" in _messages(response)
    job_run.refresh_from_db()
    assert job_run.status == JobRun.Status.CANCELLED and job_run.finished_at is not None
    engine_run.refresh_from_db()
    assert engine_run.status == Run.Status.CANCELLED
    # A barrier, not a clock: anything of the cancelled run still queued is made due now, then a second sleeper
    # (a short nap) is sent; the engine serves due work oldest first, so once the second has run its next step,
    # the cancelled run's would have run too.
    QueueItem.objects.filter(run=engine_run).update(available_at=timezone.now())
    engine.send("test/sleeper", {"seconds": 100})
    wait_until(
        lambda: any(
            recorder.count(other, "after-sleep") == 1
            for other in Run.objects.filter(function__slug__endswith="-sleeper")
            .exclude(pk=engine_run.pk)
            .values_list("run_id", flat=True)
        ),
        message="the second sleeper woke",
    )
    assert recorder.steps_of(engine_run.run_id) == ["before-sleep"]
    engine_run.refresh_from_db()
    assert engine_run.status == Run.Status.CANCELLED


def test_a_finished_run_cannot_be_cancelled(client, canceller, make_run, live_server):
    job_run = make_run(status=JobRun.Status.COMPLETED)
    client.force_login(canceller)

    assert "nh-cancel-run" not in client.get(reverse("admin:jobs_jobrun_change", args=[job_run.pk])).content.decode()
    response = client.post(reverse("admin:jobs_jobrun_cancel", args=[job_run.pk]), {"confirm": "yes"}, follow=True)

    assert "already completed: it cannot be cancelled" in _messages(response)
    job_run.refresh_from_db()
    assert job_run.status == JobRun.Status.COMPLETED


def test_the_servers_refusal_is_shown_and_the_jobrun_stays_as_it_was(
    client,
    canceller,
    make_run,
    engine,
    recorder,
):
    engine.start_dispatcher()
    engine.send("test/three.step", {"n": 1})
    (engine_run,) = engine.wait_for_runs("-three-step", 1)
    lagging = make_run(status=JobRun.Status.RUNNING)  # the engine finished it; tracking has not caught up
    JobRun.objects.filter(pk=lagging.pk).update(run_id=engine_run.run_id)
    client.force_login(canceller)

    response = client.post(reverse("admin:jobs_jobrun_cancel", args=[lagging.pk]), {"confirm": "yes"}, follow=True)

    assert "HTTP 409" in _messages(response) and "already completed" in _messages(response)
    lagging.refresh_from_db()
    assert lagging.status == JobRun.Status.RUNNING and lagging.finished_at is None


def test_bulk_cancel_confirms_then_reports_each_run(
    client,
    canceller,
    make_run,
    engine,
    recorder,
    wait_until,
):
    engine_run = _sleeping_run(engine, recorder, wait_until)
    sleeping = make_run(status=JobRun.Status.RUNNING)
    JobRun.objects.filter(pk=sleeping.pk).update(run_id=engine_run.run_id)
    unknown = make_run(status=JobRun.Status.RETRYING)  # a run id the server has never heard of
    done = make_run(status=JobRun.Status.FAILED)
    client.force_login(canceller)
    changelist = reverse("admin:jobs_jobrun_changelist")
    post = {"action": "cancel_runs", "index": "0", ACTION_CHECKBOX_NAME: [sleeping.pk, unknown.pk, done.pk]}

    page = client.post(changelist, post)
    assert page.status_code == 200 and len(page.context["runs"]) == 2
    assert f"run {done.run_id}: already failed" in page.content.decode()
    engine_run.refresh_from_db()
    assert engine_run.status != Run.Status.CANCELLED

    response = client.post(changelist, {**post, "confirm": "yes"}, follow=True)

    text = _messages(response)
    assert "Cancelled 1 run(s)" in text and engine_run.run_id in text
    assert "HTTP 404" in text and unknown.run_id in text
    assert {row.pk: row.status for row in JobRun.objects.all()} == {
        sleeping.pk: JobRun.Status.CANCELLED,
        unknown.pk: JobRun.Status.RETRYING,
        done.pk: JobRun.Status.FAILED,
    }


def test_cancel_is_refused_without_the_permission(client, staff_user, make_run, live_server):
    job_run = make_run(status=JobRun.Status.RUNNING)
    client.force_login(staff_user)

    assert client.post(reverse("admin:jobs_jobrun_cancel", args=[job_run.pk]), {"confirm": "yes"}).status_code == 403
    changelist = client.get(reverse("admin:jobs_jobrun_changelist"))
    assert "cancel_runs" not in dict(changelist.context["cl"].model_admin.get_actions(changelist.wsgi_request))
    job_run.refresh_from_db()
    assert job_run.status == JobRun.Status.RUNNING


def test_outside_dev_mode_the_client_sends_the_signing_key(engine, recorder, wait_until, settings):
    engine_run = _sleeping_run(engine, recorder, wait_until)
    settings.INNGEST_DEV = False
    settings.INNGEST_SIGNING_KEY = "signkey-prod-0123456789abcdef"

    run_cancel_request(run_id=engine_run.run_id)

    engine_run.refresh_from_db()
    assert engine_run.status == Run.Status.CANCELLED


def test_an_unreachable_server_is_a_clear_error(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    settings.INNGEST_BASE_URL = f"http://127.0.0.1:{port}"

    with pytest.raises(CancelError, match="could not be reached"):
        run_cancel_request(run_id="01JANYRUN", timeout=2)


def test_without_a_base_url_the_api_is_inngest_cloud(settings):
    settings.INNGEST_BASE_URL = ""

    assert api_origin() == "https://api.inngest.com"
