"""CRM writes: push a contact, add a note, verify a connection. Each writes a sync-log row and keeps the
connection's status honest (error on auth/config failures, active again on success).

No duplicate in the CRM: the external-id map is consulted first, then a lookup by email, and only then a create;
a duplicate reported by the CRM (Alto's 409) resolves to the existing record. A per-contact advisory lock stops
two concurrent pushes of one contact from both creating it. HTTP never runs inside a database transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, CharField, F, TextField, Value, When
from django.utils import timezone

from nurturehub.redaction import redact

from .base import (
    CrmAdapter,
    CrmContact,
    CrmNote,
    NoteResult,
    PushResult,
    RemoteContact,
    VerifyResult,
    contact_fill_blanks,
)
from .errors import (
    CrmAuthError,
    CrmConfigurationError,
    CrmConflict,
    CrmError,
    CrmNotFound,
    CrmTransientError,
)
from .factory import adapter_for
from .locks import advisory_lock
from .models import CrmConnection, CrmExternalId, CrmSyncLog

if TYPE_CHECKING:
    from tenants.models import Contact

logger = logging.getLogger(__name__)

# Errors that no retry can fix until someone changes the connection: they put it in the `error` status.
CONNECTION_BREAKING_ERRORS = (CrmAuthError, CrmConfigurationError)
CONNECTION_FAILURES = (*CONNECTION_BREAKING_ERRORS, CrmTransientError)


def crm_push_contact(*, connection: CrmConnection, contact: Contact) -> PushResult:
    """Create or update the contact in the tenant's CRM, never creating a second copy of it."""
    _check_same_tenant(connection=connection, contact=contact)
    started = time.monotonic()
    try:
        with advisory_lock(f"crm-push:{connection.pk}:{contact.pk}"), adapter_for(connection) as adapter:
            result = _push(adapter=adapter, connection=connection, contact=contact)
    except CrmError as error:
        _record_failure(
            connection=connection,
            entity=CrmSyncLog.Entity.CONTACT,
            internal_id=str(contact.pk),
            error=error,
            started=started,
        )
        raise
    _record_success(
        connection=connection,
        entity=CrmSyncLog.Entity.CONTACT,
        internal_id=str(contact.pk),
        external_id=result.external_id,
        outcome=result.outcome,
        started=started,
    )
    return result


def crm_add_note(*, connection: CrmConnection, contact: Contact, note: CrmNote) -> NoteResult:
    """Attach a note to the contact in the CRM (pushing the contact first if the CRM does not have it yet).

    A note whose `key` was already written successfully to this connection is skipped, so a retried step does
    not write it twice.
    """
    _check_same_tenant(connection=connection, contact=contact)
    started = time.monotonic()
    with advisory_lock(f"crm-push:{connection.pk}:{contact.pk}"):
        # Under the contact's lock, so that two concurrent steps with the same note cannot both write it.
        done = _note_already_written(connection=connection, key=note.key)
        if done is not None:
            return NoteResult(
                contact_external_id=_mapped_id(connection, contact) or "",
                note_external_id=done.external_id or None,
                skipped=True,
                provider=connection.provider,
            )
        return _add_note_locked(connection=connection, contact=contact, note=note, started=started)


def _note_already_written(*, connection: CrmConnection, key: str) -> CrmSyncLog | None:
    if not key:
        return None
    return (
        CrmSyncLog.objects.filter(
            connection=connection, entity=CrmSyncLog.Entity.NOTE, dedupe_key=key, status=CrmSyncLog.Status.SUCCESS
        )
        .order_by("-created_at")
        .first()
    )


def _add_note_locked(*, connection: CrmConnection, contact: Contact, note: CrmNote, started: float) -> NoteResult:
    try:
        with adapter_for(connection) as adapter:
            ours = CrmContact.from_contact(contact)
            external_id = _mapped_id(connection, contact)
            if external_id is None:
                external_id = _push(adapter=adapter, connection=connection, contact=contact).external_id
            try:
                note_id = adapter.add_note(external_id, note, contact=ours)
            except CrmNotFound:
                # The contact was deleted in the CRM since we mapped it: push it again, then retry the note once.
                CrmExternalId.objects.filter(connection=connection, contact=contact).delete()
                external_id = _push(adapter=adapter, connection=connection, contact=contact).external_id
                note_id = adapter.add_note(external_id, note, contact=ours)
    except CrmError as error:
        _record_failure(
            connection=connection,
            entity=CrmSyncLog.Entity.NOTE,
            internal_id=str(contact.pk),
            error=error,
            started=started,
            dedupe_key=note.key,
        )
        raise
    _record_success(
        connection=connection,
        entity=CrmSyncLog.Entity.NOTE,
        internal_id=str(contact.pk),
        external_id=note_id or "",
        outcome="created",
        started=started,
        dedupe_key=note.key,
    )
    return NoteResult(
        contact_external_id=external_id, note_external_id=note_id, skipped=False, provider=connection.provider
    )


def crm_verify_connection(*, connection: CrmConnection) -> VerifyResult:
    """Check the connection's credentials and settings against the CRM; the result is logged like a push."""
    started = time.monotonic()
    try:
        with adapter_for(connection) as adapter:
            result = adapter.verify()
    except CrmError as error:
        _record_failure(
            connection=connection, entity=CrmSyncLog.Entity.CONNECTION, internal_id="", error=error, started=started
        )
        raise
    _record_success(
        connection=connection,
        entity=CrmSyncLog.Entity.CONNECTION,
        internal_id="",
        external_id="",
        outcome="verified",
        started=started,
        synced=False,
    )
    return result


# --- the push itself -----------------------------------------------------------------------------------------


def _push(*, adapter: CrmAdapter, connection: CrmConnection, contact: Contact) -> PushResult:
    ours = CrmContact.from_contact(contact)
    provider = connection.provider

    mapped = _mapped_id(connection, contact)
    if mapped is not None:
        try:
            remote = adapter.get_contact(mapped)
        except CrmNotFound:
            # Deleted in the CRM: forget the mapping and look for it (or create it) again.
            CrmExternalId.objects.filter(connection=connection, contact=contact).delete()
        else:
            return _fill_in(adapter=adapter, remote=remote, ours=ours, via="map", provider=provider)

    if adapter.supports_email_lookup and ours.email:
        remote = adapter.find_contact_by_email(ours.email)
        if remote is not None:
            _remember(connection=connection, contact=contact, external_id=remote.external_id)
            return _fill_in(adapter=adapter, remote=remote, ours=ours, via="email", provider=provider)

    try:
        external_id = adapter.create_contact(ours)
    except CrmConflict as conflict:
        if not conflict.existing_id:
            raise
        _remember(connection=connection, contact=contact, external_id=conflict.existing_id)
        remote = adapter.get_contact(conflict.existing_id)
        return _fill_in(adapter=adapter, remote=remote, ours=ours, via="conflict", provider=provider)
    _remember(connection=connection, contact=contact, external_id=external_id)
    return PushResult(external_id=external_id, outcome="created", via="create", provider=provider)


def _fill_in(*, adapter: CrmAdapter, remote: RemoteContact, ours: CrmContact, via: str, provider: str) -> PushResult:
    """Fill the CRM record's blanks from ours (the CRM wins on contact fields); no write when nothing changes."""
    if remote.contact is None or not adapter.supports_update:
        return PushResult(external_id=remote.external_id, outcome="found", via=via, provider=provider)
    if not adapter.holds_category(ours.category):
        ours = replace(ours, category="")
    merged = contact_fill_blanks(remote=remote.contact, ours=ours)
    if merged is None:
        return PushResult(external_id=remote.external_id, outcome="found", via=via, provider=provider)
    adapter.update_contact(remote, merged)
    return PushResult(external_id=remote.external_id, outcome="updated", via=via, provider=provider)


def _mapped_id(connection: CrmConnection, contact: Contact) -> str | None:
    return (
        CrmExternalId.objects.filter(connection=connection, contact=contact)
        .values_list("external_id", flat=True)
        .first()
    )


def _remember(*, connection: CrmConnection, contact: Contact, external_id: str) -> None:
    # One INSERT ... ON CONFLICT DO UPDATE: a push runs several database statements, this keeps it to one.
    CrmExternalId.objects.bulk_create(
        [CrmExternalId(connection=connection, contact=contact, external_id=external_id)],
        update_conflicts=True,
        unique_fields=["connection", "contact"],
        update_fields=["external_id", "updated_at"],
    )


def _check_same_tenant(*, connection: CrmConnection, contact: Contact) -> None:
    if contact.tenant_id != connection.tenant_id:
        raise PermissionError("contact and CRM connection belong to different tenants")


# --- sync log and connection status ------------------------------------------------------------------------


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def _log_push(
    *,
    connection: CrmConnection,
    entity: str,
    internal_id: str,
    dedupe_key: str,
    started: float,
    status: str,
    **fields: str,
) -> CrmSyncLog:
    """One push's sync-log row: the columns every outcome fills, plus the success- or error-only ones."""
    return CrmSyncLog.objects.create(
        tenant_id=connection.tenant_id,
        connection=connection,
        provider=connection.provider,
        direction=CrmSyncLog.Direction.PUSH,
        entity=entity,
        internal_id=internal_id,
        dedupe_key=dedupe_key,
        status=status,
        duration_ms=_elapsed_ms(started),
        **fields,
    )


def _record_success(
    *,
    connection: CrmConnection,
    entity: str,
    internal_id: str,
    external_id: str,
    outcome: str,
    started: float,
    dedupe_key: str = "",
    synced: bool = True,
) -> None:
    now = timezone.now()
    changes: dict[str, object] = {
        "updated_at": now,
        # Back to active after an auth/config failure, in the same statement (another worker may have set it).
        "status": Case(
            When(status=CrmConnection.Status.ERROR, then=Value(CrmConnection.Status.ACTIVE)),
            default=F("status"),
            output_field=CharField(),
        ),
        "last_error": Case(
            When(status=CrmConnection.Status.ERROR, then=Value("")), default=F("last_error"), output_field=TextField()
        ),
    }
    if synced:
        changes["last_synced_at"] = now
    # One transaction, one commit: the log row and the connection's state land together.
    with transaction.atomic():
        _log_push(
            connection=connection,
            entity=entity,
            internal_id=internal_id,
            dedupe_key=dedupe_key,
            started=started,
            status=CrmSyncLog.Status.SUCCESS,
            outcome=outcome,
            external_id=external_id,
        )
        CrmConnection.objects.filter(pk=connection.pk).update(**changes)
    if connection.status == CrmConnection.Status.ERROR:
        connection.status, connection.last_error = CrmConnection.Status.ACTIVE, ""
    connection.updated_at = now
    if synced:
        connection.last_synced_at = now


def _record_failure(
    *,
    connection: CrmConnection,
    entity: str,
    internal_id: str,
    error: CrmError,
    started: float,
    dedupe_key: str = "",
) -> None:
    message = redact(str(error), connection.secrets.values())
    _log_push(
        connection=connection,
        entity=entity,
        internal_id=internal_id,
        dedupe_key=dedupe_key,
        started=started,
        status=CrmSyncLog.Status.ERROR,
        error_type=type(error).__name__,
        error=message,
    )
    logger.warning(
        "CRM %s %s failed: %s",
        connection.provider,
        entity,
        type(error).__name__,
        extra={"tenant_id": connection.tenant_id, "provider": connection.provider, "error_type": type(error).__name__},
    )
    # The connection's status and last error follow its calls: a failure of the connection itself (credentials,
    # configuration, a CRM that cannot be reached or answers 5xx) marks it `error` with the message; the next
    # success sets it `active` again (_record_success). A rate limit or a refused record says nothing about it.
    if isinstance(error, CONNECTION_FAILURES):
        now = timezone.now()
        CrmConnection.objects.filter(pk=connection.pk).update(
            status=CrmConnection.Status.ERROR, last_error=message, updated_at=now
        )
        connection.status, connection.last_error = CrmConnection.Status.ERROR, message
