"""End to end: the real serve endpoint over HTTP, run by the local engine (dispatcher threads), with the local
OpenAI-compatible server and a fake CRM, on real PostgreSQL. Retry delays are compressed (ENGINE_DELAY_SCALE)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from crm_adapters.models import Provider
from jobs.policy import FunctionCategory, policy_for
from tenants.models import HotLeadAlert, NurtureSequence
from tenants.services import contact_assign_category, engagement_record
from tests.factories import CrmConnectionFactory, TenantFactory
from tests.fakes.openai_server import Scripted
from tests.pipeline.engine_runs import finished
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.urls("tests.pipeline.urls"),
    pytest.mark.django_db(transaction=True),
    # Never beside the browser tests (tests/browser/conftest.py): their Chromium would skew the fairness timing.
    pytest.mark.xdist_group("cpu-heavy-or-timing-sensitive"),
]


def test_assigning_a_category_yields_a_draft_sequence_and_a_crm_push(
    engine, tenant, make_contact, openai_server, street
):
    CrmConnectionFactory(
        tenant=tenant, provider=Provider.STREET, config=street.connection_config(), secrets=street.secrets()
    )
    contact = make_contact(tenant=tenant, first_name="Nadia", last_name="Shah", email="nadia@example.co.uk")

    contact_assign_category(tenant=tenant, contact_id=contact.id, category="prospective-landlord")

    wait_for(lambda: len(finished("crm-sync-push")) == 1, message="the CRM push run")
    for function in ("contact-category-assigned", "nurture-sequence-generate", "crm-sync-push"):
        (run,) = finished(function)
        assert run.status == "completed", (function, run.error)
    sequence = NurtureSequence.objects.get(contact=contact)
    assert sequence.status == "draft" and sequence.emails.count() == 3
    assert sequence.emails.get(position=1).subject.startswith("Nadia")
    assert len(street.with_email("nadia@example.co.uk")) == 1
    (note,) = street.notes
    assert "Prospective landlord nurture sequence drafted" in note["body"]
    assert len(openai_server.requests) == 1


def test_ai_failures_are_retried_by_the_engine_and_the_run_completes_once(engine, tenant, make_contact, openai_server):
    openai_server.then(Scripted("server_error"), Scripted("rate_limit", retry_after_ms="200"), "two_emails")
    contact = make_contact(tenant=tenant)

    contact_assign_category(tenant=tenant, contact_id=contact.id, category="buyer")

    wait_for(lambda: len(finished("nurture-sequence-generate")) == 1, message="the generate run")
    (run,) = finished("nurture-sequence-generate")
    assert run.status == "completed", run.error
    assert len(openai_server.requests) == 4
    assert NurtureSequence.objects.filter(contact=contact).count() == 1


def test_a_permanent_ai_error_fails_the_run_without_retries(engine, tenant, make_contact, openai_server, settings):
    settings.OPENAI_API_KEY = "sk-revoked"
    contact = make_contact(tenant=tenant)

    contact_assign_category(tenant=tenant, contact_id=contact.id, category="buyer")

    wait_for(lambda: NurtureSequence.objects.filter(contact=contact, status="failed").exists(), message="failure")
    (run,) = finished("nurture-sequence-generate")
    assert run.status == "failed"
    assert len(openai_server.requests) == 1


def test_concurrency_per_tenant_is_honoured(engine, make_contact, openai_server, settings):
    """Counted, not timed: every AI call is held inside the fake provider until the counts below are reached."""
    settings.OPENAI_TIMEOUT = 600  # a held call must not time out and retry however slow the machine is
    limit = policy_for(FunctionCategory.AI).tenant_concurrency
    backlog = 2 * limit + 2
    openai_server.hold()
    busy, quiet = TenantFactory(name="Busy Lettings"), TenantFactory(name="Quiet Estates")
    for _ in range(backlog):
        contact_assign_category(tenant=busy, contact_id=make_contact(tenant=busy).id, category="landlord")
    contact_assign_category(tenant=quiet, contact_id=make_contact(tenant=quiet).id, category="seller")

    # The busy agency fills its limit and its backlog waits; the quiet agency's call, assigned after that backlog,
    # is already running beside it while no call of the busy agency has finished.
    openai_server.wait_for_in_flight({"Busy Lettings": limit, "Quiet Estates": 1})
    assert NurtureSequence.objects.count() == 0
    openai_server.release()

    wait_for(lambda: NurtureSequence.objects.count() == backlog + 1, timeout=120, message="every sequence")
    assert openai_server.max_in_flight_by_agency["Busy Lettings"] == limit
    assert openai_server.max_in_flight_by_agency["Quiet Estates"] == 1


def test_engagement_to_hot_lead_alert_end_to_end(engine, tenant, make_contact, agent):
    contact = make_contact(tenant=tenant, category="vendor", assigned_agent=agent)
    now = timezone.now()

    engagement_record(tenant=tenant, contact_id=contact.id, kind="email.reply", occurred_at=now)
    engagement_record(tenant=tenant, contact_id=contact.id, kind="valuation.booked", occurred_at=now)

    # Only a score over both rows crosses the hot threshold, so the alert means that score is stored. How many
    # scoring runs it took depends on the debounce (one per burst); tests/pipeline/test_e2e_flow_control.py counts.
    wait_for(lambda: HotLeadAlert.objects.filter(emailed_at__isnull=False).exists(), message="the alert email")
    assert HotLeadAlert.objects.count() == 1
    assert [message.to for message in mail.outbox] == [[agent.email]]
    contact.refresh_from_db()
    assert contact.intent_score == 83
    assert settings.EMAIL_BACKEND.endswith("locmem.EmailBackend")
