"""The operator's whole story in a real Chromium at 1440 x 900, from three failing agencies to resolved failures.

Three agencies fail for three causes, each produced by the real code through the real serve endpoint: an expired
CRM token (CrmAuthError from the Street fake), a CRM base URL on a dead port (httpx.ConnectError) and the AI
provider answering 5xx (openai.InternalServerError from the OpenAI fake). The operator filters by cause, opens a
run (timeline first), follows its links, fixes the CRM settings in the form, tests them before saving, bulk
replays the open failures (one rerun each, no event re-sent) and sees them leave the open list and the dashboard;
the reruns then run and the original failures read "resolved". Every run is the local engine's (its dispatcher in
threads beside the live server), stopped while the operator works so that the replays wait until the test starts
it again. A screenshot of each page is kept under .data/screenshots/<test name>/.
"""

from __future__ import annotations

import re
import socket

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm_adapters.models import CrmConnection
from jobs.emit import emit
from jobs.engine.models import Event, Run
from jobs.events import CrmSyncPush, NurtureSequenceGenerate
from jobs.models import EventLog, JobRun, RunReplay
from tests.browser.conftest import CPU_HEAVY, admin_sign_in, needs_chromium, operator_create
from tests.factories import ContactFactory, CrmConnectionFactory, TenantFactory
from tests.pipeline.engine_pipeline import EnginePipeline

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, CPU_HEAVY]

AI_ATTEMPTS = 5  # the ai policy's max attempts


def dead_port_url() -> str:
    """A loopback URL nobody listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def ended(live_server, row: EventLog) -> JobRun:
    """The run the engine started for an emitted event, once it (and its failure handler) ended, as tracked."""
    (run,) = EnginePipeline(live_server.url).runs_of_sent(row.event_id)
    return JobRun.objects.get(run_id=run.run_id)


def test_an_operator_resolves_three_causes_without_typing_json_or_copying_an_id(
    live_server, engine, browser_page, screenshot, street, openai_server
):
    # Given three agencies, each with two failed runs of its own cause.
    expired = TenantFactory(name="Acme Lettings", slug="acme")
    unreachable = TenantFactory(name="Birch Estates", slug="birch")
    ai_down = TenantFactory(name="Cedar Homes", slug="cedar")
    CrmConnectionFactory(tenant=expired, config=street.connection_config(), secrets={"token": "expired-token"})
    CrmConnectionFactory(tenant=unreachable, config={"base_url": dead_port_url()}, secrets=street.secrets())
    openai_server.then(*["server_error"] * (2 * AI_ATTEMPTS))
    failed: list[JobRun] = []
    for tenant in (expired, unreachable):
        for _ in range(2):
            contact = ContactFactory(tenant=tenant)
            row = emit(
                CrmSyncPush,
                {"tenantId": str(tenant.id), "contactId": str(contact.id), "requestedAt": timezone.now().isoformat()},
            )
            failed.append(ended(live_server, row))
    for assignment_id in (1, 2):  # one run per assignment (the function's idempotency key)
        contact = ContactFactory(tenant=ai_down, category="seller")
        event = NurtureSequenceGenerate(
            tenant_id=ai_down.id,
            contact_id=contact.id,
            category="seller",
            brand_voice=ai_down.brand_voice,
            assignment_id=assignment_id,
            source="api",
            triggered_at=timezone.now(),
        )
        failed.append(ended(live_server, emit(NurtureSequenceGenerate, event)))
    assert [run.status for run in failed] == ["failed"] * 6
    causes = {run.tenant.slug: run.error_type for run in failed}
    assert causes == {"acme": "CrmAuthError", "birch": "httpx.ConnectError", "cedar": "openai.InternalServerError"}
    assert CrmConnection.objects.get(tenant=unreachable).status == CrmConnection.Status.ERROR  # follows its pushes
    engine.stop()  # the engine rests while the operator works: replays wait for it to start again

    operator_create()
    page = browser_page
    admin_sign_in(page, live_server.url)

    # The dashboard counts six open failures.
    page.click("#nh-monitoring >> text=Monitoring dashboard")
    expect(page.locator("#nh-open-failures")).to_have_text("6")
    screenshot(page, "dashboard-before")

    # The failed runs, open by default; the error-type filter separates the three causes.
    page.click("#nh-open-failures-link")
    expect(page.locator("#result_list tbody tr")).to_have_count(6)
    filters = page.inner_text("#changelist-filter")
    for cause in causes.values():
        assert cause in filters
    screenshot(page, "failed-runs-open")
    page.locator("#changelist-filter").get_by_role("link", name="CrmAuthError").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    screenshot(page, "failed-runs-crm-auth")

    # A run's page: the timeline first, the cause, links to its contact, the CRM sync log and the setting to fix.
    page.locator("#result_list tbody tr a").first.click()
    assert page.locator("#nh-timeline").bounding_box()["y"] < 600
    assert page.inner_text("#nh-error-type") == "CrmAuthError"
    assert "failed; no retries left" in page.inner_text("#nh-timeline")
    expect(page.locator("#nh-timeline pre.nh-traceback")).to_have_count(1)  # its one attempt, readable
    screenshot(page, "run-crm-auth")
    run_url = page.url
    page.locator("a.nh-related", has_text="Contact:").click()
    assert "CrmAuthError" in page.inner_text("#nh-contact-runs")
    assert "CrmAuthError" in page.inner_text("#nh-contact-crm")
    screenshot(page, "contact")
    page.goto(run_url)
    page.locator("a.nh-related", has_text="CRM sync log").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    screenshot(page, "crm-sync-log")
    page.goto(run_url)

    # Fix the expired token in the connection form, test it before saving (the answer beside the button), save.
    page.click("#nh-fix-setting a")
    expect(page.locator("fieldset.nh-provider-street")).to_be_visible()
    expect(page.locator("fieldset.nh-provider-reapit")).to_be_hidden()
    page.click("#nh-test-connection")
    page.wait_for_selector("#nh-test-result .nh-test-failed")
    assert "CrmAuthError" in page.inner_text("#nh-test-result")
    page.fill("input[name=street__secret__token]", street.secrets()["token"])
    page.click("#nh-test-connection")
    page.wait_for_selector("#nh-test-result .nh-test-ok")
    assert "not saved yet" in page.inner_text("#nh-test-result")
    assert CrmConnection.objects.get(tenant=expired).secrets == {"token": "expired-token"}
    screenshot(page, "connection-tested-before-saving")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    fixed = CrmConnection.objects.get(tenant=expired)
    assert fixed.secrets == street.secrets()
    assert (fixed.status, fixed.last_error) == (CrmConnection.Status.ACTIVE, "")  # that error was the old token's

    # The dead host: the same road from its run, the base URL fixed in the form.
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/")
    page.locator("#changelist-filter").get_by_role("link", name="httpx.ConnectError").click()
    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator("#nh-attempts")).to_have_text("6 failed attempts (5 retried)")
    timeline = page.inner_text("#nh-timeline")
    assert timeline.count("failed; retry at") == 5 and timeline.count("failed; no retries left") == 1
    assert "retry in" not in timeline.split("no retries left", 1)[1]  # the exhausted attempt promises nothing
    screenshot(page, "run-connect-error-retries")
    page.click("#nh-fix-setting a")
    page.fill("input[name=street__base_url]", street.connection_config()["base_url"])
    page.click("#nh-test-connection")
    # A stored secret only goes to the saved endpoint: with a new base URL it must be typed again.
    page.wait_for_selector("#nh-test-result .nh-test-failed")
    assert "Type it again" in page.inner_text("#nh-test-result")
    page.fill("input[name=street__secret__token]", street.secrets()["token"])
    page.click("#nh-test-connection")
    page.wait_for_selector("#nh-test-result .nh-test-ok")
    page.click("input[name=_save]")
    assert CrmConnection.objects.get(tenant=unreachable).config["base_url"] == street.connection_config()["base_url"]

    # The AI provider's outage: nothing to change, wait and replay (not a setting of the agency).
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/")
    page.locator("#changelist-filter").get_by_role("link", name="openai.InternalServerError").click()
    page.locator("#result_list tbody tr a").first.click()
    assert "wait until it answers again, then replay" in page.inner_text("#nh-fix-setting")
    screenshot(page, "run-ai-provider")

    # Bulk replay of every open failure, confirmed first: one rerun per failed run, no event re-sent.
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "replay_runs")
    page.click("button[name=index]")
    expect(page.locator("#nh-runs-count")).to_have_text("6")
    screenshot(page, "replay-confirmation")
    events_stored = Event.objects.count()
    page.click("#nh-confirm-replay")
    assert "Replayed 6 run(s)" in page.inner_text("ul.messagelist")
    replayed = RunReplay.objects.filter(state=RunReplay.State.STARTED)
    assert sorted(replayed.values_list("original__run_id", flat=True)) == sorted(run.run_id for run in failed)
    for replay in replayed.select_related("original"):  # a rerun of the engine: the original's event, not a new one
        assert Run.objects.get(run_id=replay.run_id).event_id == Run.objects.get(run_id=replay.original.run_id).event_id
    assert Event.objects.count() == events_stored
    expect(page.locator("#result_list tbody tr")).to_have_count(0)  # the open list is empty
    screenshot(page, "failed-runs-after-replay")
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/?failure=replaying")
    expect(page.locator("#result_list tbody tr")).to_have_count(6)
    screenshot(page, "failed-runs-replaying")
    page.goto(f"{live_server.url}/admin/jobs/jobrun/dashboard/")
    expect(page.locator("#nh-open-failures")).to_have_text("0")
    screenshot(page, "dashboard-after-replay")

    # The agency's settings are rows of inputs: a vocabulary word added with "Add a row", no JSON typed.
    page.goto(f"{live_server.url}/admin/tenants/tenant/{expired.pk}/change/")
    page.locator("#id_brand_vocabulary .nh-add-row").click()
    page.locator("#id_brand_vocabulary input").last.fill("kerb appeal")
    screenshot(page, "tenant-settings")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    expired.refresh_from_db()
    assert expired.brand_vocabulary == ["kerb appeal"]

    page.goto(f"{live_server.url}/admin/jobs/eventlog/")
    screenshot(page, "event-log")
    page.goto(f"{live_server.url}/admin/jobs/jobrun/")
    screenshot(page, "all-runs")

    # The engine starts again: the replays run and complete, and the originals read "resolved".
    engine.start()
    pipeline = EnginePipeline(live_server.url)
    replays = [pipeline.ended(replay.run_id) for replay in RunReplay.objects.filter(state=RunReplay.State.STARTED)]
    assert sorted(run.status for run in replays) == ["completed"] * 6
    assert (
        sorted(JobRun.objects.filter(run_id__in=[r.run_id for r in replays]).values_list("status", flat=True))
        == ["completed"] * 6
    )
    assert CrmConnection.objects.get(tenant=unreachable).status == CrmConnection.Status.ACTIVE
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/?failure=resolved")
    expect(page.locator("#result_list tbody tr")).to_have_count(6)
    screenshot(page, "failed-runs-resolved")
    page.goto(run_url)
    assert re.search(r"\S+ completed", page.inner_text("#nh-replays"))
    expect(page.locator("#nh-failure-state")).to_have_text("resolved by replay")
    expect(page.locator("#nh-replay-run")).to_have_count(0)  # nothing left to replay
    screenshot(page, "run-resolved-with-lineage")
    page.locator("#nh-replays a").first.click()
    assert "Replay of" in page.inner_text("#nh-replay-of")
    screenshot(page, "replay-run")

    # The failed runs list refreshes itself: a new failure appears without reloading the page.
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    CrmConnection.objects.filter(tenant=expired).update(config={"base_url": dead_port_url()})
    row = emit(
        CrmSyncPush,
        {
            "tenantId": str(expired.id),
            "contactId": str(ContactFactory(tenant=expired).id),
            "requestedAt": timezone.now().isoformat(),
        },
    )
    assert ended(live_server, row).status == "failed"
    expect(page.locator("#result_list tbody tr")).to_have_count(1, timeout=30_000)  # the page polls every 5 s
    assert page.evaluate("document.body.dataset.nhRefreshed") is not None
