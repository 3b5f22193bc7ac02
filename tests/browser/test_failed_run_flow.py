"""The operator's flow in a real headless Chromium: find a failed run, open its timeline, replay it.

Chromium comes from the system packages (`apt-get install chromium`, done by .ci/run); Playwright's Python package
drives it through `executable_path`, so no browser is ever downloaded at test time.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from jobs.models import RunReplay
from tests.browser.conftest import CPU_HEAVY, admin_sign_in, needs_chromium, operator_create

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, CPU_HEAVY]


def test_operator_finds_a_failed_run_sees_why_and_replays_it(
    live_server, browser_page, tenant, make_event_log, make_run, event_api
):
    operator = operator_create(is_superuser=False)
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_jobrun", "view_eventlog", "view_tenant", "replay_jobrun"])
    )
    original = make_event_log(tenant=tenant)
    run = make_run(event_log=original)
    page = browser_page

    # Log in to the admin.
    admin_sign_in(page, live_server.url)

    # From the index to the failed runs, filtered by the tenant.
    page.click("#nh-monitoring >> text=Failed runs")
    page.click(f"text={tenant.name}")
    page.click(f"text={run.run_id}")

    # The run's page: why it failed, step by step.
    timeline = page.locator("table.nh-timeline")
    assert "CrmTransientError: 503 from Street" in timeline.inner_text()
    assert "CrmAuthError: 401 from Street" in timeline.inner_text()
    assert page.locator(f"a[href$='/admin/tenants/tenant/{tenant.pk}/change/']").count() == 1

    # Replay: a confirmation first, then one rerun of this run (no event re-sent).
    page.click("#nh-replay-run")
    assert "no other function runs" in page.inner_text("#nh-replay-confirmation")
    assert event_api.reruns == []
    page.click("#nh-confirm-replay")

    assert "Replayed 1 run(s)" in page.inner_text("ul.messagelist")
    assert event_api.reruns == [run.run_id] and event_api.received == []
    assert RunReplay.objects.get(original=run).state == RunReplay.State.STARTED
    expect(page.locator("#nh-replaying")).to_be_visible()
