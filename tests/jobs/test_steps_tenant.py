"""The steps' tenant reads (jobs/steps.py): one row by primary key, and a tenant that is gone fails the run for good."""

from __future__ import annotations

import uuid

import inngest
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.policy import PermanentJobError
from jobs.steps import tenant_context, tenant_for_step

pytestmark = pytest.mark.django_db


def test_a_steps_tenant_is_read_by_its_key_alone_with_no_sort(tenant):
    with CaptureQueriesContext(connection) as queries:
        found = tenant_for_step(str(tenant.id))
        context = tenant_context(tenant.id)

    assert found == tenant
    assert context["tenant_id"] == str(tenant.id) and context["name"] == tenant.name
    assert len(queries) == 2
    # first() sorted by the model's `name` (Tenant.Meta.ordering): a sort for one row, compiled on every read.
    assert not [query["sql"] for query in queries if "ORDER BY" in query["sql"]]


def test_a_tenant_that_is_gone_fails_the_step_without_retries():
    missing = uuid.uuid4()

    with pytest.raises(PermanentJobError, match=f"tenant {missing} does not exist"):
        tenant_for_step(missing)
    with pytest.raises(inngest.NonRetriableError, match=f"tenant {missing} does not exist"):
        tenant_context(missing)
