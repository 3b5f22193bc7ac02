"""The AI outage story in a real Chromium, through the local engine: 20 sequence generations fail while the AI
provider answers 5xx; once it is back, one bulk replay gives 20 new runs that complete and store the sequences,
and the worklist and the dashboard read 0.

Everything real: the engine (its dispatcher in threads beside the live server), the serve endpoint over HTTP, the
OpenAI fake as the provider, PostgreSQL. `nurture/sequence.generate` is idempotent per assignment for 24 h: a replay
that re-sent its event would be skipped by the engine; the rerun is not. Screenshots under .data/screenshots/.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from jobs.engine.gate_models import SkippedRun
from jobs.engine.models import Run
from jobs.models import JobRun, RunReplay
from tenants.models import NurtureSequence
from tenants.services import contact_assign_category
from tests.browser.conftest import CPU_HEAVY, admin_sign_in, needs_chromium, operator_create
from tests.factories import ContactFactory, TenantFactory
from tests.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, CPU_HEAVY]

GENERATE = "nurture-sequence-generate"
CONTACTS = 20


def generate_runs(status: str) -> int:
    return Run.objects.filter(function__slug__endswith=f"-{GENERATE}", status=status).count()


def test_an_ai_outage_fails_20_generations_and_one_bulk_replay_stores_all_20_sequences(
    live_server, engine, openai_server, browser_page, screenshot
):
    agency = TenantFactory(name="Cedar Homes", slug="cedar")
    contacts = [ContactFactory(tenant=agency, first_name=f"Outage{n}") for n in range(CONTACTS)]
    openai_server.then(*["server_error"] * 10_000)  # the provider is down until the script is cleared

    for contact in contacts:
        contact_assign_category(tenant=agency, contact_id=contact.id, category="seller")

    wait_for(
        lambda: JobRun.objects.filter(function_id=GENERATE, status=JobRun.Status.FAILED).count() == CONTACTS,
        timeout=180,
        message="20 failed generations",
    )
    assert generate_runs("completed") == 0
    with openai_server._lock:
        openai_server.script.clear()  # the provider is back
    originals = set(JobRun.objects.filter(function_id=GENERATE).values_list("run_id", flat=True))

    operator_create()
    page = browser_page
    admin_sign_in(page, live_server.url)

    page.goto(f"{live_server.url}/admin/jobs/jobrun/dashboard/")
    expect(page.locator("#nh-open-failures")).to_have_text(str(CONTACTS))
    screenshot(page, "dashboard-outage")
    page.click("#nh-open-failures-link")
    expect(page.locator("#result_list tbody tr")).to_have_count(CONTACTS)
    screenshot(page, "failed-runs-outage")
    # A run's page: the failing step named, its attempts under it, the cause first, the outage's own hint.
    page.locator("#result_list tbody tr a").first.click()
    timeline = page.inner_text("#nh-timeline")
    expect(page.locator("#nh-timeline tr.nh-step-group", has_text="call-ai-api")).to_have_count(1)
    assert "function body" not in timeline and "RetryAfterError" not in timeline and "retry in" not in timeline
    assert timeline.count("openai.InternalServerError") >= 5
    assert "wait until it answers again, then replay" in page.inner_text("#nh-fix-setting")
    screenshot(page, "run-outage-step-named-attempts-grouped")
    page.go_back()

    # One bulk replay of the 20, confirmed first.
    page.check("#action-toggle")
    page.select_option("select[name=action]", "replay_runs")
    page.click("button[name=index]")
    expect(page.locator("#nh-runs-count")).to_have_text(str(CONTACTS))
    screenshot(page, "replay-confirmation")
    page.click("#nh-confirm-replay")
    expect(page.locator("ul.messagelist")).to_contain_text(f"Replayed {CONTACTS} run(s)")
    screenshot(page, "replayed")

    wait_for(lambda: generate_runs("completed") == CONTACTS, timeout=180, message="20 replayed generations")
    wait_for(
        lambda: JobRun.objects.filter(function_id=GENERATE, status=JobRun.Status.COMPLETED).count() == CONTACTS,
        message="run tracking to record the 20 completed runs",
    )
    replays = RunReplay.objects.filter(original__run_id__in=originals)
    assert replays.count() == CONTACTS and set(replays.values_list("state", flat=True)) == {"started"}
    assert generate_runs("failed") == CONTACTS  # the originals; no other generation ran
    assert not SkippedRun.objects.filter(function__slug__endswith=f"-{GENERATE}").exists()
    drafts = NurtureSequence.objects.filter(tenant=agency, status="draft")
    assert sorted(drafts.values_list("contact_id", flat=True)) == sorted(contact.id for contact in contacts)

    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    screenshot(page, "worklist-empty")
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/?failure=resolved")
    expect(page.locator("#result_list tbody tr")).to_have_count(CONTACTS)
    screenshot(page, "failures-resolved")
    page.goto(f"{live_server.url}/admin/jobs/jobrun/dashboard/")
    expect(page.locator("#nh-open-failures")).to_have_text("0")
    screenshot(page, "dashboard-after")
    assert settings.INNGEST_BASE_URL == live_server.url  # the admin's reruns went to the local engine
