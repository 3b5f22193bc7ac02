"""Loop contacts <-> our neutral contact: pure functions, no HTTP.

ASSUMED shapes (to confirm with Loop support, see loop/client.py): a contact is a flat JSON object
`{"id", "first_name", "last_name", "email", "phone", "address", "marketing_consent", "category"}`, lists come
as `{"data": [...]}`, and a note is `{"body", "type"}` answered with `{"id"}`.
"""

from __future__ import annotations

from typing import Any

from crm_adapters.base import CrmContact, CrmNote, MarketingConsent
from crm_adapters.mapping import listed_errors, messages_by_field


def contact_body(contact: CrmContact) -> dict[str, Any]:
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phones[0] if contact.phones else "",
        "address": contact.address,
        "marketing_consent": contact.marketing_consent.value,
        "category": contact.category,
        "external_reference": contact.internal_id,
    }


def contact_from_loop(body: dict[str, Any]) -> CrmContact:
    consent = body.get("marketing_consent") or "unknown"
    phone = (body.get("phone") or "").strip()
    return CrmContact(
        first_name=(body.get("first_name") or "").strip(),
        last_name=(body.get("last_name") or "").strip(),
        email=(body.get("email") or "").strip(),
        phones=(phone,) if phone else (),
        address=(body.get("address") or "").strip(),
        marketing_consent=MarketingConsent(consent)
        if consent in {item.value for item in MarketingConsent}
        else MarketingConsent.UNKNOWN,
        category=(body.get("category") or "").strip(),
    )


def matching_contact(body: Any, email: str) -> dict[str, Any] | None:
    wanted = email.strip().lower()
    items = body.get("data") if isinstance(body, dict) else body
    for item in items or []:
        if isinstance(item, dict) and (item.get("email") or "").strip().lower() == wanted:
            return item
    return None


def note_body(note: CrmNote) -> dict[str, Any]:
    return {"body": note.text, "type": note.kind.value}


def field_errors(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if isinstance(errors, dict):
        return messages_by_field(errors)
    if isinstance(errors, list):
        return listed_errors(errors)
    return [{"field": "", "message": str(body["message"])}] if body.get("message") else []
