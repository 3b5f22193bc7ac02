"""The push/note services: no duplicates, the sync log, the connection's status, tenancy, and secrets kept out
of logs, the sync log and exception messages."""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection as db

from crm_adapters.base import CrmNote, NoteKind
from crm_adapters.errors import (
    CrmAuthError,
    CrmConfigurationError,
    CrmNotFound,
    CrmTransientError,
    CrmValidationError,
)
from crm_adapters.models import CrmConnection, CrmExternalId, CrmRateLimitBucket, CrmSyncLog
from crm_adapters.services import crm_add_note, crm_push_contact, crm_verify_connection
from tenants.models import Contact
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db


def test_a_successful_push_writes_one_sync_log_row(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant)

    result = crm_push_contact(connection=connection, contact=contact)

    [row] = CrmSyncLog.objects.all()
    assert (row.tenant_id, row.connection_id, row.provider) == (tenant.id, connection.id, "street")
    assert (row.direction, row.entity, row.status, row.outcome) == ("push", "contact", "success", "created")
    assert (row.external_id, row.internal_id) == (result.external_id, str(contact.id))
    assert row.error == ""
    connection.refresh_from_db()
    assert connection.last_synced_at is not None


def test_the_sync_log_holds_at_least_the_time_the_crm_took(street, connect, make_contact, tenant, settings):
    # A lower bound only: the fake holds the create 0.3 s, so however slow the machine, the push took that long.
    settings.CRM_HTTP_TIMEOUT = 30
    street.slow("POST", "/enquiries", seconds=0.3)

    crm_push_contact(connection=connect(street), contact=make_contact(tenant=tenant))

    [row] = CrmSyncLog.objects.all()
    assert row.duration_ms >= 300


def test_a_failed_push_is_logged_with_its_error(street, connect, make_contact, tenant):
    connection = connect(street)
    street.fail("POST", "/enquiries", 503)

    with pytest.raises(CrmTransientError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    [row] = CrmSyncLog.objects.all()
    assert (row.status, row.error_type) == ("error", "CrmTransientError")
    assert "503" in row.error
    connection.refresh_from_db()
    # The connection's status and last error follow its pushes (a dead host used to leave it "Active", no error).
    assert connection.status == CrmConnection.Status.ERROR and "503" in connection.last_error
    assert connection.last_synced_at is None

    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (CrmConnection.Status.ACTIVE, "")


def test_auth_failure_marks_the_connection_and_success_restores_it(street, connect, make_contact, tenant):
    connection = connect(street)
    street.fail("GET", "/people", 401)

    with pytest.raises(CrmAuthError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ERROR and connection.last_error

    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ACTIVE and connection.last_error == ""


def test_success_restores_a_connection_another_worker_marked_as_error(street, connect, make_contact, tenant):
    connection = connect(street)  # loaded while active
    CrmConnection.objects.filter(pk=connection.pk).update(status=CrmConnection.Status.ERROR, last_error="401")

    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    connection.refresh_from_db()
    assert (connection.status, connection.last_error) == (CrmConnection.Status.ACTIVE, "")


def test_success_leaves_a_disconnected_connection_disconnected(street, connect, make_contact, tenant):
    connection = connect(street, status=CrmConnection.Status.DISCONNECTED)

    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.DISCONNECTED


def test_validation_failure_does_not_break_the_connection(street, connect, make_contact, tenant):
    connection = connect(street)

    with pytest.raises(CrmValidationError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant, last_name=""))

    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ACTIVE
    assert CrmSyncLog.objects.get().error_type == "CrmValidationError"


def test_a_contact_deleted_in_the_crm_is_found_again_or_recreated(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant)
    first = crm_push_contact(connection=connection, contact=contact)
    del street.people[first.external_id]

    again = crm_push_contact(connection=connection, contact=contact)

    assert again.outcome == "created" and again.external_id != first.external_id
    assert CrmExternalId.objects.get(connection=connection, contact=contact).external_id == again.external_id


def test_a_contact_of_another_tenant_is_refused(street, connect, make_contact, other_tenant):
    connection = connect(street)

    with pytest.raises(PermissionError):
        crm_push_contact(connection=connection, contact=make_contact(tenant=other_tenant))

    assert street.requests == []
    assert CrmSyncLog.objects.count() == 0


def test_a_note_with_a_key_is_written_once(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant)
    note = CrmNote(kind=NoteKind.SEQUENCE_SUMMARY, subject="Sequence", body="Three emails.", key="sequence:42")

    first = crm_add_note(connection=connection, contact=contact, note=note)
    second = crm_add_note(connection=connection, contact=contact, note=note)

    assert (first.skipped, second.skipped) == (False, True)
    assert second.note_external_id == first.note_external_id
    assert len(street.notes) == 1
    assert CrmSyncLog.objects.filter(entity="note", status="success").count() == 1


def test_a_failed_note_is_retried_for_real(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant)
    note = CrmNote(kind=NoteKind.HOT_LEAD, subject="Hot", body="85", key="alert:7")
    street.fail("POST", "/notes", 500)

    with pytest.raises(CrmTransientError):
        crm_add_note(connection=connection, contact=contact, note=note)
    retried = crm_add_note(connection=connection, contact=contact, note=note)

    assert retried.skipped is False and len(street.notes) == 1


def test_a_note_for_a_contact_deleted_in_the_crm_recreates_the_contact(street, connect, make_contact, tenant):
    connection = connect(street)
    contact = make_contact(tenant=tenant)
    pushed = crm_push_contact(connection=connection, contact=contact)
    del street.people[pushed.external_id]

    result = crm_add_note(connection=connection, contact=contact, note=CrmNote(NoteKind.OTHER, "", "Hello"))

    assert result.contact_external_id != pushed.external_id
    assert street.notes[0]["target_id"] == result.contact_external_id


def test_verify_is_logged_and_restores_an_errored_connection(street, connect):
    connection = connect(street, status=CrmConnection.Status.ERROR, last_error="old failure")

    crm_verify_connection(connection=connection)

    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ACTIVE
    assert CrmSyncLog.objects.get().entity == "connection"


@pytest.mark.django_db(transaction=True)
def test_concurrent_pushes_of_one_contact_create_it_once(street, connect, make_contact, tenant):
    street.latency = 0.05
    connection = connect(street)
    contact = make_contact(tenant=tenant, email="race@example.co.uk")
    results: list[str] = []

    def push() -> None:
        try:
            fresh = Contact.objects.get(pk=contact.pk)
            results.append(crm_push_contact(connection=CrmConnection.objects.get(pk=connection.pk), contact=fresh).via)
        finally:
            db.close()

    threads = [threading.Thread(target=push) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(street.with_email("race@example.co.uk")) == 1
    assert sorted(results) == ["create", "map", "map", "map"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_steps_with_the_same_note_write_it_once(street, connect, make_contact, tenant):
    street.latency = 0.05
    connection = connect(street)
    contact = make_contact(tenant=tenant)
    note = CrmNote(kind=NoteKind.SEQUENCE_SUMMARY, subject="Sequence", body="Three emails.", key="sequence:race")
    skipped: list[bool] = []

    def add() -> None:
        try:
            fresh = CrmConnection.objects.get(pk=connection.pk)
            skipped.append(
                crm_add_note(connection=fresh, contact=Contact.objects.get(pk=contact.pk), note=note).skipped
            )
        finally:
            db.close()

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(street.notes) == 1
    assert sorted(skipped) == [False, True, True, True]


# --- secrets never leak -------------------------------------------------------------------------------------


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def _everything_written(caplog, connection: CrmConnection, errors: list[Exception]) -> str:
    """Every log record (at DEBUG, httpx/httpcore included), sync-log row, stored error and exception text.

    factory_boy's own DEBUG records are left out: they show the test factories' arguments, not our code's output.
    """
    connection.refresh_from_db()
    rows = list(CrmSyncLog.objects.values_list("error", "external_id", "internal_id", "outcome"))
    records = [r for r in caplog.records if not r.name.startswith("factory")]
    return "\n".join(
        [
            *(r.getMessage() + str(r.__dict__) for r in records),
            str(rows),
            connection.last_error,
            *(str(e) + repr(e) + str(e.as_dict()) for e in errors),
        ]
    )


@pytest.mark.parametrize(("provider", "method"), [("reapit", "GET"), ("alto", "POST")])
def test_client_secrets_and_tokens_never_appear_in_logs_sync_log_or_errors(
    provider, method, request, connect, make_contact, tenant, debug_logs
):
    fake = request.getfixturevalue(provider)
    connection = connect(fake)
    errors: list[Exception] = []
    crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
    for status in (401, 422, 429, 500):
        # A CRM that echoes a secret back: 401 twice, since one 401 is answered with a token refresh and a retry.
        echo = f"echo {fake.client_secret} {next(iter(fake.tokens))}"
        fake.fail(
            method,
            "/contacts",
            status,
            body={"description": echo, "detail": echo},
            times=2 if status == 401 else 1,
        )
        # A 429 pauses the connection in our limiter; lift the pause so the next failure reaches the fake.
        CrmRateLimitBucket.objects.all().delete()
        try:
            crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
        except Exception as error:  # every failure's message is inspected below
            errors.append(error)
    bad = connect(
        fake,
        secrets={"client_id": fake.client_id, "client_secret": "wrong-secret-zz"},
        tenant=make_contact().tenant,
    )
    try:
        crm_push_contact(connection=bad, contact=make_contact(tenant=bad.tenant))
    except CrmAuthError as error:
        errors.append(error)

    written = _everything_written(debug_logs, connection, errors) + bad.last_error
    assert len(errors) == 5
    for secret in [fake.client_secret, "wrong-secret-zz", *fake.tokens]:
        assert secret not in written
    assert "token-" not in written


def test_api_keys_never_appear_in_logs_sync_log_or_errors(agentos, street, loop, connect, make_contact, debug_logs):
    errors: list[Exception] = []
    connections = []
    for fake, secret in [(agentos, agentos.api_key), (street, street.token), (loop, loop.api_key)]:
        contact = make_contact()
        connection = connect(fake, tenant=contact.tenant)
        connections.append((connection, secret))
        crm_push_contact(connection=connection, contact=contact)
        fake.slow("POST", ".*", 1.0)
        try:
            crm_push_contact(connection=connection, contact=make_contact(tenant=contact.tenant))
        except CrmTransientError as error:
            errors.append(error)
        stranger = make_contact()
        try:
            crm_push_contact(
                connection=connect(fake, tenant=stranger.tenant, secrets={"api_key": "wrong", "token": "wrong"}),
                contact=stranger,
            )
        except CrmAuthError as error:
            errors.append(error)

    assert len(errors) == 6
    for connection, secret in connections:
        assert secret not in _everything_written(debug_logs, connection, errors)
    assert CrmSyncLog.objects.filter(status="error").exists()


def test_a_missing_secret_is_named_but_not_shown(street, connect, make_contact, tenant):
    connection = connect(street, secrets={"other": "value-123456"})

    with pytest.raises(CrmConfigurationError) as raised:
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))

    assert str(raised.value) == "The street connection has no 'token' secret"
    connection.refresh_from_db()
    assert connection.status == CrmConnection.Status.ERROR


def test_not_found_is_its_own_error(loop, connect, make_contact, tenant):
    loop.api_available = False

    with pytest.raises(CrmNotFound):
        crm_push_contact(connection=connect(loop), contact=make_contact(tenant=tenant))


# --- the no-duplicate rule, for every CRM -----------------------------------------------------------------


CREATE_PATHS = {
    "reapit": "/contacts",
    "alto": "/contacts",
    "street": "/enquiries",
    "loop": "/api/v1/contacts",
    "agentos": "/v4/applications/prospects/createTenancyApplication",
}


def _copies(fake, email: str) -> int:
    if hasattr(fake, "prospects"):
        return int(email.lower() in fake.prospects)
    return len(fake.with_email(email))


@pytest.mark.parametrize(
    ("provider", "found_via"),
    [
        ("reapit", "email"),
        ("alto", "conflict"),  # no search by email: Alto's 409 names the contact it already has
        ("street", "email"),
        ("loop", "email"),
        ("agentos", "create"),  # agentOS links a second application to the person by email itself
    ],
)
def test_a_retry_after_a_timeout_never_makes_a_second_copy(provider, found_via, request, connect, make_contact, tenant):
    fake = request.getfixturevalue(provider)
    connection = connect(fake)
    contact = make_contact(tenant=tenant, email=f"timeout-{provider}@example.co.uk")
    fake.slow("POST", CREATE_PATHS[provider], seconds=1.0)  # we give up at 0.5 s; the CRM still creates it

    with pytest.raises(CrmTransientError):
        crm_push_contact(connection=connection, contact=contact)
    wait_for(lambda: _copies(fake, contact.email) == 1)
    retried, again = (crm_push_contact(connection=connection, contact=contact) for _ in range(2))

    assert (retried.via, again.via) == (found_via, "map")
    assert retried.external_id == again.external_id
    assert _copies(fake, contact.email) == 1
    assert CrmExternalId.objects.filter(connection=connection, contact=contact).count() == 1


def test_a_crm_that_cannot_be_reached_is_transient(loop, connect, make_contact, tenant):
    connection = connect(loop, config={"base_url": "http://127.0.0.1:9/api"})  # nothing listens on port 9

    with pytest.raises(CrmTransientError, match="could not reach"):
        crm_push_contact(connection=connection, contact=make_contact(tenant=tenant))
