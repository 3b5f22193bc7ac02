"""Alto (Zoopla) contacts <-> our neutral contact: pure functions, no HTTP.

An Alto contact holds one or two people (`people[]`, each with `forename`, `surname`, `emailAddresses[{address}]`,
`phoneNumbers[{number}]`) in a branch, with the lead's source. Notes are file notes linked to contact ids.
"""

from __future__ import annotations

from typing import Any

from crm_adapters.base import CrmContact, CrmNote
from crm_adapters.mapping import listed_errors, messages_by_field

LEAD_SOURCE = "NurtureHub"
FILE_NOTE_TYPE = "General"


def contact_create_body(contact: CrmContact, *, branch_id: str) -> dict[str, Any]:
    person: dict[str, Any] = {
        "forename": contact.first_name,
        "surname": contact.last_name,
        "emailAddresses": [{"address": contact.email}] if contact.email else [],
        "phoneNumbers": [{"number": number} for number in contact.phones],
    }
    return {"branchId": branch_id, "people": [person], "lead": {"source": LEAD_SOURCE}}


def contact_from_alto(body: dict[str, Any]) -> CrmContact:
    people = body.get("people") or [{}]
    first = people[0] or {}
    emails = [item.get("address") or "" for item in first.get("emailAddresses") or [] if isinstance(item, dict)]
    phones = [item.get("number") or "" for item in first.get("phoneNumbers") or [] if isinstance(item, dict)]
    return CrmContact(
        first_name=(first.get("forename") or "").strip(),
        last_name=(first.get("surname") or "").strip(),
        email=next((email.strip() for email in emails if email.strip()), ""),
        phones=tuple(phone.strip() for phone in phones if phone.strip()),
    )


def file_note_body(external_id: str, note: CrmNote, *, note_type: str = FILE_NOTE_TYPE) -> dict[str, Any]:
    return {"notes": note.text, "contactIds": [external_id], "fileNoteType": note_type}


def field_errors(body: Any) -> list[dict[str, str]]:
    """Alto's validation answers: a list `errors[{field, message}]`, or .NET's `errors: {field: [messages]}`."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if isinstance(errors, dict):
        return messages_by_field(errors)
    if isinstance(errors, list):
        return listed_errors(errors, field_keys=("field", "propertyName"), message_keys=("message", "errorMessage"))
    if body.get("detail") or body.get("title"):
        return [{"field": "", "message": str(body.get("detail") or body.get("title"))}]
    return []
