"""Hostile input to the admin's lists and run pages: a 400 naming what was wrong, or a 404, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

RUN_FILTERS = ["status", "function_id", "tenant__id__exact", "event_name", "within", "error_type"]
EVENT_FILTERS = ["status", "name", "within", "tenant__id__exact"]


@pytest.mark.parametrize(
    ("list_name", "parameter"),
    [("admin:jobs_jobrun_changelist", name) for name in RUN_FILTERS]
    + [("admin:jobs_eventlog_changelist", name) for name in EVENT_FILTERS]
    + [("admin:jobs_failedjobrun_changelist", "failure"), ("admin:jobs_jobrun_changelist", "q")],
)
def test_a_nul_in_a_list_filter_is_a_400_naming_it(client, operator, list_name, parameter, make_run, tenant):
    make_run(tenant=tenant)
    client.force_login(operator)

    response = client.get(reverse(list_name), {parameter: "x\x00y"})

    assert response.status_code == 400, response.status_code
    assert parameter in response.content.decode()


@pytest.mark.parametrize("action", ["replay", "cancel", "dismiss"])
@pytest.mark.parametrize("object_id", ["abc", "1x", "99999999999999999999999"])
def test_a_non_numeric_run_id_in_a_run_url_is_a_404(client, operator, action, object_id):
    client.force_login(operator)

    response = client.post(f"/admin/jobs/jobrun/{object_id}/{action}/")

    assert response.status_code == 404


@pytest.mark.parametrize("object_id", ["abc", "99999999999999999999999"])
def test_a_non_numeric_run_id_on_the_run_page_is_a_404(client, operator, object_id):
    client.force_login(operator)

    assert client.get(f"/admin/jobs/jobrun/{object_id}/change/").status_code == 404


@pytest.mark.parametrize(
    ("term", "why"),
    [(" ".join(f"word{i}" for i in range(2000)), "words"), ("x" * 5000, "characters")],
    ids=["2000-words", "5000-chars"],
)
@pytest.mark.parametrize("list_name", ["admin:jobs_jobrun_changelist", "admin:jobs_eventlog_changelist"])
def test_an_overlong_search_is_refused_before_any_query(client, operator, list_name, term, why):
    client.force_login(operator)

    response = client.get(reverse(list_name), {"q": term})

    assert response.status_code == 400
    assert why in response.content.decode()


def test_an_ordinary_search_still_answers(client, operator, tenant, make_run):
    run = make_run(tenant=tenant)
    client.force_login(operator)

    response = client.get(reverse("admin:jobs_jobrun_changelist"), {"q": run.run_id})

    assert response.status_code == 200 and run.run_id in response.content.decode()
