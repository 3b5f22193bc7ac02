"""Street (JSON:API) <-> our neutral contact: pure functions, no HTTP.

Street's Open API uses the JSON:API envelope (`{"data": {"type", "id", "attributes"}}`). Attribute names are
snake_case as Street's resources use them; a person carries names, email, phone numbers, address and
marketing consent. New people are created from an enquiry (Street's documented way in for a lead).
"""

from __future__ import annotations

from typing import Any

from crm_adapters.base import CrmContact, CrmNote, MarketingConsent

ENQUIRY_SOURCE = "NurtureHub"


def enquiry_body(contact: CrmContact) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "source": ENQUIRY_SOURCE,
        "message": f"Lead from NurtureHub ({contact.category})" if contact.category else "Lead from NurtureHub",
    }
    if contact.phones:
        attributes["phone"] = contact.phones[0]
    if contact.marketing_consent != MarketingConsent.UNKNOWN:
        attributes["marketing_consent"] = contact.marketing_consent == MarketingConsent.GRANTED
    return {"data": {"type": "enquiry", "attributes": attributes}}


def person_id_from_enquiry(body: dict[str, Any]) -> str | None:
    """The person the enquiry created or matched: `data.relationships.person.data.id`."""
    try:
        return str(body["data"]["relationships"]["person"]["data"]["id"])
    except (KeyError, TypeError):
        return None


def person_patch_body(external_id: str, contact: CrmContact) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phones[0] if contact.phones else None,
        "address": contact.address or None,
    }
    if contact.marketing_consent != MarketingConsent.UNKNOWN:
        attributes["marketing_consent"] = contact.marketing_consent == MarketingConsent.GRANTED
    return {"data": {"type": "person", "id": external_id, "attributes": attributes}}


def person_to_contact(resource: dict[str, Any]) -> CrmContact:
    attributes = resource.get("attributes") or {}
    consent = attributes.get("marketing_consent")
    phone = (attributes.get("phone") or "").strip()
    return CrmContact(
        first_name=(attributes.get("first_name") or "").strip(),
        last_name=(attributes.get("last_name") or "").strip(),
        email=(attributes.get("email") or "").strip(),
        phones=(phone,) if phone else (),
        address=(attributes.get("address") or "").strip(),
        marketing_consent=(
            MarketingConsent.UNKNOWN
            if consent is None
            else MarketingConsent.GRANTED
            if consent
            else MarketingConsent.DENIED
        ),
    )


def matching_person(body: dict[str, Any], email: str) -> dict[str, Any] | None:
    """The first person in a list answer whose email equals `email` (case-insensitive): filters can be fuzzy."""
    wanted = email.strip().lower()
    for resource in body.get("data") or []:
        if ((resource.get("attributes") or {}).get("email") or "").strip().lower() == wanted:
            return resource
    return None


def note_body(external_id: str, note: CrmNote) -> dict[str, Any]:
    return {
        "data": {"type": "note", "attributes": {"body": note.text, "target_type": "person", "target_id": external_id}}
    }


def field_errors(body: Any) -> list[dict[str, str]]:
    """JSON:API `errors[]`: the field is the last segment of `source.pointer`."""
    result = []
    for item in (body or {}).get("errors") or [] if isinstance(body, dict) else []:
        pointer = ((item.get("source") or {}).get("pointer") or "").rstrip("/")
        result.append(
            {
                "field": pointer.rsplit("/", 1)[-1] if pointer else "",
                "message": item.get("detail") or item.get("title") or "",
            }
        )
    return result
