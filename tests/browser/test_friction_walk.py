"""The friction fixes, each seen in Chromium and kept as a screenshot (.data/screenshots/<test name>/).

Pause/Resume as a button with a badge wherever the agency shows, runs that read "running for" and "sleeping until"
(no Replay offered), the CRM connection form (status and agency read-only, Test beside Save), human names, the
site's title and a header without a dead "View site" link.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from jobs.emit import emit
from jobs.engine.dispatcher import Dispatcher
from jobs.events import AlertHotLeadFire, LeadIntentScore
from jobs.models import JobRun, StepAttempt
from tests.browser.conftest import CPU_HEAVY, admin_sign_in, needs_chromium, operator_create
from tests.factories import ContactFactory, CrmConnectionFactory, TenantFactory

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, CPU_HEAVY]


def test_the_friction_fixes_on_screen(live_server, browser_page, screenshot, make_event_log, make_run, street):
    agency = TenantFactory(name="Acme Lettings", slug="acme")
    connection = CrmConnectionFactory(tenant=agency, config=street.connection_config(), secrets=street.secrets())
    make_run(event_log=make_event_log(tenant=agency))
    running = make_run(event_log=make_event_log(tenant=agency), status=JobRun.Status.RUNNING)
    sleeping = make_run(event_log=make_event_log(tenant=agency), status=JobRun.Status.RUNNING)
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
    operator_create()
    page = browser_page
    admin_sign_in(page, live_server.url)

    # The site's own title, and no "View site" pointing at nothing.
    assert page.title().endswith("NurtureHub operations")
    expect(page.locator("#user-tools")).not_to_contain_text("View site")
    screenshot(page, "index-title-no-view-site")

    # Pause from the top of the agency's form; the badge shows on the form, the agencies list and its runs.
    page.goto(f"{live_server.url}/admin/tenants/tenant/{agency.pk}/change/")
    assert page.locator("#nh-pause-jobs").bounding_box()["y"] < 300
    page.click("#nh-pause-jobs")
    expect(page.locator("ul.messagelist")).to_contain_text("Paused background work of 1 agency")
    expect(page.locator("#nh-resume-jobs")).to_be_visible()
    screenshot(page, "agency-paused-button")
    page.goto(f"{live_server.url}/admin/tenants/tenant/")
    expect(page.locator("#result_list .nh-paused")).to_have_count(1)
    screenshot(page, "agencies-list-paused-badge")
    page.goto(f"{live_server.url}/admin/jobs/jobrun/")
    expect(page.locator("#result_list .nh-paused")).to_have_count(3)
    expect(page.locator("#result_list", has_text="sleeping until")).to_have_count(1)
    screenshot(page, "runs-list-sleeping-and-paused")

    # A sleeping run says so (and how long it has been running), with no Replay; a running one says "running for".
    page.goto(f"{live_server.url}/admin/jobs/jobrun/{sleeping.pk}/change/")
    expect(page.locator("#nh-run-duration")).to_contain_text(f"sleeping until {timezone.localtime(wake):%H:%M:%S}")
    expect(page.locator("#nh-replay-run")).to_have_count(0)
    screenshot(page, "run-sleeping-no-replay")
    page.goto(f"{live_server.url}/admin/jobs/jobrun/{running.pk}/change/")
    expect(page.locator("#nh-run-duration")).to_contain_text("running for")
    screenshot(page, "run-running-for")

    # The CRM connection: named by its agency, status and agency read-only, Test connection beside Save.
    page.goto(f"{live_server.url}/admin/crm_adapters/crmconnection/{connection.pk}/change/")
    assert "for Acme Lettings" in page.title()
    expect(page.locator("select[name=status], select[name=tenant]")).to_have_count(0)
    save = page.locator("input[name=_save]").last.bounding_box()
    test = page.locator("#nh-test-connection").bounding_box()
    assert abs(save["y"] - test["y"]) < 10 and 0 < test["x"] - save["x"] < 300  # on Save's line, right after it
    page.click("#nh-test-connection")
    page.wait_for_selector("#nh-test-result .nh-test-ok")
    screenshot(page, "crm-form-read-only-test-beside-save")

    page.goto(f"{live_server.url}/admin/tenants/tenant/{agency.pk}/change/")
    page.click("#nh-resume-jobs")
    expect(page.locator("#nh-pause-jobs")).to_be_visible()

    # What flow control holds, in the engine's admin: a debounced score and a rate-limited alert (engine synced,
    # its dispatcher not started, so nothing is released while the page is read).
    assert Dispatcher(app_urls=[settings.INNGEST_SERVE_URL]).sync_apps() == {}
    contact = ContactFactory(tenant=agency)
    emit(
        LeadIntentScore,
        {"tenant_id": agency.id, "contact_id": contact.id, "reason": "recalculate", "occurred_at": timezone.now()},
    )
    alert = {"tenant_id": agency.id, "contact_id": contact.id, "score": 91, "threshold": 80}
    for _ in range(2):
        emit(AlertHotLeadFire, {**alert, "fired_at": timezone.now()})
    page.goto(f"{live_server.url}/admin/engine/function/")
    page.click("#nh-flow-control-link")
    expect(page.locator("#nh-flow-debounces + table")).to_contain_text("lead-intent-score")
    expect(page.locator("#nh-flow-skipped + table")).to_contain_text("Rate limited")
    screenshot(page, "engine-flow-control-now")
