"""agentOS (LetMC) prospects <-> our neutral contact: pure functions, no HTTP.

The write path is the tenancy-application endpoint: `BranchID`, `Forename`, `Surname`, `EmailAddress`, the
phones and a free-text `Message`. agentOS links an application whose email already exists to that contact, so
the email is the prospect's stable identity; when agentOS answers with the prospect's id we keep that instead.
"""

from __future__ import annotations

import re
from typing import Any

from crm_adapters.base import CrmContact, CrmNote
from crm_adapters.mapping import messages_by_field

EMAIL_ID_PREFIX = "email:"
PHONE_FIELDS = ("MobilePhone", "HomePhone", "WorkPhone")
_ID_KEYS = ("ProspectID", "ProspectOID", "OID", "ID", "Id", "id")
_GUIDISH = re.compile(r"^[0-9A-Za-z-]{6,64}$")


def application_body(contact: CrmContact, *, branch_id: str, message: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "BranchID": branch_id,
        "Forename": contact.first_name,
        "Surname": contact.last_name,
        "EmailAddress": contact.email,
        "Message": message,
    }
    for field, number in zip(PHONE_FIELDS, contact.phones, strict=False):
        body[field] = number
    return body


def new_contact_message(contact: CrmContact) -> str:
    category = f" ({contact.category})" if contact.category else ""
    return f"Lead registered by NurtureHub{category}."


def note_message(note: CrmNote) -> str:
    return f"NurtureHub: {note.text}"


def external_id_from_answer(body: Any, *, email: str) -> str:
    """The prospect's id when agentOS gives one, else `email:<address>` (agentOS keys prospects by email)."""
    if isinstance(body, dict):
        for key in _ID_KEYS:
            if body.get(key):
                return str(body[key])
    if isinstance(body, str) and _GUIDISH.match(body.strip()):
        return body.strip()
    return f"{EMAIL_ID_PREFIX}{email.strip().lower()}"


def field_errors(body: Any) -> list[dict[str, str]]:
    """agentOS answers validation failures with ASP.NET's `ModelState` or a `Message`."""
    if isinstance(body, dict):
        state = body.get("ModelState") or body.get("errors")
        if isinstance(state, dict):
            return messages_by_field(state, prefix="model.")
        if body.get("Message"):
            return [{"field": "", "message": str(body["Message"])}]
    return []
