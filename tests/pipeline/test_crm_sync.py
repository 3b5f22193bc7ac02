"""crm/sync.push through the real serve endpoint, the adapter against a local fake CRM (Street's documented API)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from crm_adapters.models import CrmConnection, CrmSyncLog, Provider
from crm_adapters.oauth import clear_token_cache
from jobs.events import CrmSyncPush
from jobs.policy import FunctionCategory, policy_for
from tenants.models import NurtureSequence
from tenants.services import contact_assign_category, sequence_store
from tests.factories import CrmConnectionFactory
from tests.pipeline.engine_pipeline import wire_event

pytestmark = pytest.mark.django_db(transaction=True)

FN = "crm-sync-push"
EMAILS = [
    {"subject": f"Subject {n}", "preview_text": "p", "body_html": "<p>b</p>", "body_text": "b"} for n in (1, 2, 3)
]


@pytest.fixture(autouse=True)
def crm_settings(settings) -> Iterator[None]:
    settings.CRM_HTTP_TIMEOUT = 0.5
    settings.CRM_HTTP_CONNECT_TIMEOUT = 0.5
    settings.CRM_RATE_LIMITS = {
        "street.reads": {"requests": 10_000, "per_seconds": 1, "burst": 100},
        "street.writes": {"requests": 10_000, "per_seconds": 1, "burst": 100},
    }
    settings.CRM_RATE_LIMIT_MAX_WAIT = 2.0
    clear_token_cache()
    yield
    clear_token_cache()


@pytest.fixture
def connection(tenant, street) -> CrmConnection:
    return CrmConnectionFactory(
        tenant=tenant, provider=Provider.STREET, config=street.connection_config(), secrets=street.secrets()
    )


@pytest.fixture
def contact(tenant, make_contact):
    contact = make_contact(tenant=tenant, first_name="Amara", last_name="Okafor", email="amara@example.co.uk")
    contact.category = "landlord"
    contact.save()
    return contact


@pytest.fixture
def sequence(tenant, contact) -> NurtureSequence:
    return sequence_store(
        tenant=tenant,
        contact_id=contact.id,
        category="landlord",
        source_event_id="evt-seq-1",
        emails=EMAILS,
        send_delays_days=[0, 3, 7],
        model="template",
    ).sequence


def push_event(tenant, contact, sequence=None):
    return wire_event(
        CrmSyncPush(
            tenant_id=tenant.id,
            contact_id=contact.id,
            sequence_id=sequence.id if sequence else None,
            requested_at=timezone.now(),
        )
    )


def test_pushes_the_contact_and_a_note_summarising_the_sequence(
    pipeline, tenant, contact, sequence, connection, street
):
    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.status == "completed"
    assert run.steps == ["load-connection", "push-contact", "add-sequence-note"]
    (person,) = street.with_email("amara@example.co.uk")
    assert person["attributes"]["last_name"] == "Okafor"
    (note,) = street.notes
    assert note["target_id"] == person["id"]
    assert "Landlord nurture sequence drafted" in note["body"]
    assert "1. Day 0: Subject 1" in note["body"] and "3. Day 10: Subject 3" in note["body"]
    assert run.output["contact"]["external_id"] == person["id"]
    assert run.output["note"]["skipped"] is False


def test_a_replayed_push_never_creates_a_second_contact_or_note(
    pipeline, tenant, contact, sequence, connection, street
):
    event = push_event(tenant, contact, sequence)

    first = pipeline.run(FN, event)
    replay = pipeline.rerun(first)  # an operator's replay: a new run of the same event

    assert replay.status == "completed"
    assert len(street.with_email("amara@example.co.uk")) == 1
    assert len(street.enquiries) == 1
    assert len(street.notes) == 1
    assert replay.output["note"]["skipped"] is True


def test_a_crm_5xx_backs_off_doubling_and_the_retry_completes(pipeline, tenant, contact, sequence, connection, street):
    street.fail("POST", "/enquiries", 503, times=2)

    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.status == "completed"
    policy = policy_for(FunctionCategory.CRM)
    assert [failure.retry_after_seconds for failure in run.failures] == pytest.approx(
        [policy.backoff(0).total_seconds(), policy.backoff(1).total_seconds()], abs=1.0
    )
    assert len(street.enquiries) == 1  # the failed attempts created nothing; the retry created one


def test_a_crm_429_retries_after_its_retry_after(pipeline, tenant, contact, sequence, connection, street):
    street.fail("POST", "/enquiries", 429, headers={"Retry-After": "1"})

    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.status == "completed"
    assert run.failures[0].retry_after_seconds == pytest.approx(1, abs=1.0)
    assert len(street.enquiries) == 1


def test_a_crm_that_stays_down_fails_the_run_at_the_categorys_max_attempts(
    pipeline, tenant, contact, sequence, connection, street
):
    attempts = policy_for(FunctionCategory.CRM).max_attempts
    street.fail("POST", "/enquiries", 500, times=attempts + 5)

    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.status == "failed"
    assert len(run.failures) == attempts
    assert len(street.made("POST", "/enquiries")) == attempts
    assert street.notes == []


def test_rejected_credentials_fail_at_once_and_mark_the_connection(
    pipeline, tenant, contact, sequence, connection, street
):
    connection.set_secrets({"token": "revoked-token"})
    connection.save()

    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.status == "failed"
    assert len(run.failures) == 1 and run.failures[0].no_retry
    assert "CrmAuthError" in run.output["message"]
    assert "revoked-token" not in str(run.output)
    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ERROR


def test_a_validation_error_is_permanent(pipeline, tenant, contact, sequence, connection, street):
    street.fail("POST", "/enquiries", 422, body={"errors": [{"status": "422", "detail": "bad"}]})

    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.status == "failed" and run.failures[0].no_retry
    assert len(street.made("POST", "/enquiries")) == 1
    assert CrmSyncLog.objects.filter(status=CrmSyncLog.Status.ERROR).count() == 1


def test_without_a_connection_nothing_is_pushed(pipeline, tenant, contact, sequence):
    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.status == "completed"
    assert run.output == {"skipped": "no CRM connected"}


def test_a_disconnected_connection_is_skipped(pipeline, tenant, contact, sequence, connection, street):
    CrmConnection.objects.filter(pk=connection.pk).update(status=CrmConnection.Status.DISCONNECTED)

    run = pipeline.run(FN, push_event(tenant, contact, sequence))

    assert run.output == {"skipped": "no CRM connected"}
    assert street.requests == []


def test_another_tenants_contact_is_never_pushed(pipeline, tenant, other_tenant, contact, street):
    CrmConnectionFactory(
        tenant=other_tenant, provider=Provider.STREET, config=street.connection_config(), secrets=street.secrets()
    )
    event = wire_event(CrmSyncPush(tenant_id=other_tenant.id, contact_id=contact.id, requested_at=timezone.now()))

    run = pipeline.run(FN, event)

    assert run.status == "failed" and run.failures[0].no_retry
    assert street.enquiries == []


def test_assigning_a_category_ends_with_the_contact_and_note_in_the_crm(
    pipeline, tenant, contact, connection, street, template_writer
):
    contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller")

    runs = pipeline.drain()

    assert [run.function_id.removeprefix("nurturehub-") for run in runs] == [
        "contact-category-assigned",
        "nurture-sequence-generate",
        "crm-sync-push",
    ]
    assert all(run.status == "completed" for run in runs)
    sequence = NurtureSequence.objects.get(contact=contact, category="seller")
    (note,) = street.notes
    assert "Seller nurture sequence drafted" in note["body"]
    assert sequence.emails.get(position=1).subject in note["body"]
    assert len(street.with_email(contact.email)) == 1
