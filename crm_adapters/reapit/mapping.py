"""Reapit Foundations contacts <-> our neutral contact: pure functions, no HTTP.

Reapit holds `forename`/`surname`, `email`, `mobilePhone`/`homePhone`/`workPhone`, `primaryAddress`
(`line1`..`line4`, `postcode`), `marketingConsent` (grant/deny/notAsked), `officeIds[]`, `negotiatorIds[]` and
`categoryIds[]`. Our category goes into `categoryIds` only when the connection maps our slug to a Reapit
category id (config `category_ids`), because Reapit's category ids are per customer.
"""

from __future__ import annotations

from typing import Any

from crm_adapters.base import CrmContact, CrmNote, MarketingConsent
from crm_adapters.mapping import listed_errors

CONSENT_TO_REAPIT = {
    MarketingConsent.GRANTED: "grant",
    MarketingConsent.DENIED: "deny",
    MarketingConsent.UNKNOWN: "notAsked",
}
CONSENT_FROM_REAPIT = {value: key for key, value in CONSENT_TO_REAPIT.items()}
PHONE_FIELDS = ("mobilePhone", "homePhone", "workPhone")


def _address(contact: CrmContact) -> dict[str, str] | None:
    lines = contact.address_lines
    if not lines:
        return None
    # A UK postcode is the last line by convention; Reapit keeps it in its own field.
    *street, last = lines if len(lines) > 1 else (*lines, "")
    address = {f"line{number}": line for number, line in enumerate(street[:4], start=1)}
    if last:
        address["postcode"] = last
    return address


def contact_create_body(
    contact: CrmContact,
    *,
    office_ids: list[str],
    negotiator_ids: list[str],
    category_ids: dict[str, str],
    source_id: str = "",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "forename": contact.first_name,
        "surname": contact.last_name,
        "email": contact.email,
        "marketingConsent": CONSENT_TO_REAPIT[contact.marketing_consent],
        "officeIds": office_ids,
        "negotiatorIds": negotiator_ids,
    }
    if source_id:
        # Reapit's sources are the customer's own configured ids: only sent when the connection names one.
        body["source"] = {"type": "source", "id": source_id}
    for field, number in zip(PHONE_FIELDS, contact.phones, strict=False):
        body[field] = number
    if (address := _address(contact)) is not None:
        body["primaryAddress"] = address
    if contact.category and contact.category in category_ids:
        body["categoryIds"] = [category_ids[contact.category]]
    return body


def contact_patch_body(contact: CrmContact, *, current_category_ids: list[str], category_ids: dict[str, str]) -> dict:
    """A PATCH with every field of the merged contact (Reapit ignores what is unchanged)."""
    body: dict[str, Any] = {
        "forename": contact.first_name,
        "surname": contact.last_name,
        "email": contact.email,
        "marketingConsent": CONSENT_TO_REAPIT[contact.marketing_consent],
    }
    for field, number in zip(PHONE_FIELDS, contact.phones, strict=False):
        body[field] = number
    if (address := _address(contact)) is not None:
        body["primaryAddress"] = address
    if contact.category and contact.category in category_ids:
        wanted = category_ids[contact.category]
        if wanted not in current_category_ids:
            body["categoryIds"] = [*current_category_ids, wanted]
    return body


def contact_from_reapit(body: dict[str, Any], *, category_ids: dict[str, str]) -> CrmContact:
    address = body.get("primaryAddress") or {}
    lines = [address.get(f"line{number}") or "" for number in range(1, 5)] + [address.get("postcode") or ""]
    by_reapit_id = {reapit_id: slug for slug, reapit_id in category_ids.items()}
    category = next((by_reapit_id[c] for c in body.get("categoryIds") or [] if c in by_reapit_id), "")
    return CrmContact(
        first_name=(body.get("forename") or "").strip(),
        last_name=(body.get("surname") or "").strip(),
        email=(body.get("email") or "").strip(),
        phones=tuple(body[field].strip() for field in PHONE_FIELDS if (body.get(field) or "").strip()),
        address="\n".join(line.strip() for line in lines if line.strip()),
        marketing_consent=CONSENT_FROM_REAPIT.get(body.get("marketingConsent") or "", MarketingConsent.UNKNOWN),
        category=category,
    )


def journal_entry_body(external_id: str, note: CrmNote, *, type_id: str, negotiator_id: str) -> dict[str, Any]:
    return {
        "typeId": type_id,
        "associatedType": "contact",
        "associatedId": external_id,
        "description": note.text,
        "negotiatorId": negotiator_id,
    }


def field_errors(body: Any) -> list[dict[str, str]]:
    """Reapit's 400/422 body: `errors[{field, message}]` (with `description` as the general message)."""
    if not isinstance(body, dict):
        return []
    errors = listed_errors(body.get("errors") or [])
    if not errors and body.get("description"):
        errors.append({"field": "", "message": str(body["description"])})
    return errors
