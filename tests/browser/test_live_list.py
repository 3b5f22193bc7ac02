"""The failed-runs list refreshing itself in Chromium: rows are patched in place, a selection survives a refresh,
"select all" selects the rows there are now, and a hidden tab stops polling until it is shown again."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CPU_HEAVY, admin_sign_in, needs_chromium, operator_create

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium, CPU_HEAVY]


def _set_hidden(page, hidden: bool) -> None:
    page.evaluate(
        """(hidden) => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_a_refresh_keeps_the_selection_and_select_all_takes_the_new_rows(
    live_server, browser_page, screenshot, tenant, make_event_log, make_run
):
    first = make_run(event_log=make_event_log(tenant=tenant))
    operator_create()
    page = browser_page
    live_requests: list[float] = []
    page.on("request", lambda request: request.headers.get("x-nh-live") and live_requests.append(time.monotonic()))
    admin_sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    # A row ticked before a refresh is still ticked after it; the new failure is added beside it.
    page.check(f"input.action-select[value='{first.pk}']")
    second = make_run(event_log=make_event_log(tenant=tenant))
    expect(page.locator("#result_list tbody tr")).to_have_count(2, timeout=30_000)
    expect(page.locator(f"input.action-select[value='{first.pk}']")).to_be_checked()
    expect(page.locator(f"input.action-select[value='{second.pk}']")).not_to_be_checked()
    screenshot(page, "selection-kept-across-a-refresh")

    # "Select all" ticks the rows there are now, and the action gets them (not "Items must be selected").
    page.uncheck(f"input.action-select[value='{first.pk}']")
    page.check("#action-toggle")
    expect(page.locator("input.action-select:checked")).to_have_count(2)
    expect(page.locator(".action-counter")).to_have_text("2 of 2 selected")
    screenshot(page, "select-all-after-a-refresh")
    page.select_option("select[name=action]", "dismiss_failures")
    page.click("button[name=index]")
    expect(page.locator("#nh-dismiss-count")).to_have_text("2")
    screenshot(page, "action-on-the-refreshed-rows")

    # A hidden tab stops polling; shown again, it refreshes at once.
    page.goto(f"{live_server.url}/admin/jobs/failedjobrun/")
    _set_hidden(page, True)
    time.sleep(1)  # a request already on its way may still land
    hidden_since, count = time.monotonic(), len(live_requests)
    time.sleep(12)  # more than two visible periods (5 s)
    assert len(live_requests) == count, "the hidden tab polled"
    _set_hidden(page, False)
    # At once, not at the backed-off time (10 s after the hidden tick): 4 s is the generous bound of "at once".
    deadline = time.monotonic() + 4
    while len(live_requests) == count and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(live_requests) > count and live_requests[-1] > hidden_since, "no refresh on return"
