"""Pausing an agency's background work: a button on its form, a list action, a badge wherever it shows."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from tenants.models import Tenant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    return UserFactory(is_staff=True, is_superuser=True)


def test_the_forms_button_pauses_and_resumes_and_says_so(client, admin_user, tenant):
    client.force_login(admin_user)
    form_url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    assert 'id="nh-pause-jobs"' in client.get(form_url).content.decode()

    page = client.post(reverse("admin:tenants_tenant_jobs_switch", args=[tenant.pk, "pause"]), follow=True)

    tenant.refresh_from_db()
    body = page.content.decode()
    assert tenant.jobs_paused and "Paused background work of 1 agency" in body
    assert 'id="nh-resume-jobs"' in body and ">jobs paused</span>" in body
    client.post(reverse("admin:tenants_tenant_jobs_switch", args=[tenant.pk, "resume"]))
    tenant.refresh_from_db()
    assert not tenant.jobs_paused
    assert client.get(reverse("admin:tenants_tenant_jobs_switch", args=[tenant.pk, "pause"])).status_code == 405


def test_a_staff_member_who_may_not_change_agencies_cannot_pause_one(client, staff_user, tenant):
    client.force_login(staff_user)

    response = client.post(reverse("admin:tenants_tenant_jobs_switch", args=[tenant.pk, "pause"]))

    tenant.refresh_from_db()
    assert response.status_code == 403 and not tenant.jobs_paused


def test_the_list_action_pauses_the_selected_agencies_and_the_list_shows_a_badge(
    client, admin_user, tenant, other_tenant
):
    client.force_login(admin_user)
    url = reverse("admin:tenants_tenant_changelist")
    post = {"action": "pause_jobs", "index": "0", ACTION_CHECKBOX_NAME: [str(tenant.pk), str(other_tenant.pk)]}

    body = client.post(url, post, follow=True).content.decode()

    assert set(Tenant.objects.values_list("jobs_paused", flat=True)) == {True}
    assert "Paused background work of 2 agencies" in body
    assert body.count(">jobs paused</span>") == 2 and "icon-yes" not in body


def test_a_paused_agency_is_badged_on_its_runs_and_run_pages(client, operator, tenant, make_event_log, make_run):
    run = make_run(event_log=make_event_log(tenant=tenant))
    Tenant.objects.filter(pk=tenant.pk).update(jobs_paused=True)
    client.force_login(operator)

    for url in (
        reverse("admin:jobs_jobrun_change", args=[run.pk]),
        reverse("admin:jobs_failedjobrun_changelist"),
        reverse("admin:jobs_jobrun_changelist"),
        reverse("admin:jobs_jobrun_dashboard"),
    ):
        assert ">jobs paused</span>" in client.get(url).content.decode(), url
