"""Alto (Zoopla) as documented: client-credentials tokens at /token, `AgencyRef` on every call (wrong ref 403),
POST /contacts (201, or 409 with the existing contact's Location on a duplicate email), file notes."""

from __future__ import annotations

import re
from typing import Any

from werkzeug import Request, Response

from .base import ClientCredentialsIssuer, FakeCrm


class FakeAlto(ClientCredentialsIssuer, FakeCrm):
    agency_ref = "3f2c9a7e-5b1d-4e8f-9a6b-0c1d2e3f4a5b"
    branch_id = "BR-101"

    def __init__(self, **kwargs: Any) -> None:
        FakeCrm.__init__(self, **kwargs)
        ClientCredentialsIssuer.__init__(self)
        self.contacts: dict[str, dict[str, Any]] = {}
        self.file_notes: list[dict[str, Any]] = []

    def connection_config(self) -> dict[str, Any]:
        return {"base_url": self.url, "agency_ref": self.agency_ref, "branch_id": self.branch_id}

    def secrets(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def check_auth(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        if not self.bearer_valid(request):
            return self.respond(401, {"title": "Unauthorized", "status": 401})
        if request.headers.get("AgencyRef") != self.agency_ref:
            return self.respond(403, {"title": "Forbidden", "status": 403})
        return None

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/token" and method == "POST":
            return self.issue_token(request, self)
        if path == "/branches" and method == "GET":
            return self.respond(200, {"items": [{"id": self.branch_id, "name": "Oxford"}], "totalCount": 1})
        if path == "/contacts" and method == "POST":
            return self._create(request)
        if (match := re.fullmatch(r"/contacts/([^/]+)", path)) and method == "GET":
            contact = self.contacts.get(match.group(1))
            if contact is None:
                return self.respond(404, {"title": "Not Found", "status": 404})
            return self.respond(200, contact)
        if path == "/file-notes" and method == "POST":
            return self._file_note(request)
        return self.respond(404, {"title": "Not Found", "status": 404})

    def _invalid(self, errors: dict[str, list[str]]) -> Response:
        return self.respond(
            422,
            {"type": "validation", "title": "One or more validation errors occurred.", "status": 422, "errors": errors},
        )

    def _create(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        errors: dict[str, list[str]] = {}
        if not body.get("branchId"):
            errors["BranchId"] = ["The BranchId field is required."]
        people = body.get("people") or []
        if not 1 <= len(people) <= 2:
            errors["People"] = ["A contact has one or two people."]
        for index, person in enumerate(people):
            for field in ("surname", "forename"):
                if not (person or {}).get(field):
                    errors[f"People[{index}].{field.capitalize()}"] = [f"The {field.capitalize()} field is required."]
        if errors:
            return self._invalid(errors)
        emails = {
            (address.get("address") or "").lower()
            for person in people
            for address in person.get("emailAddresses") or []
        } - {""}
        with self.lock:
            for existing_id, existing in self.contacts.items():
                existing_emails = {
                    (address.get("address") or "").lower()
                    for person in existing["people"]
                    for address in person.get("emailAddresses") or []
                }
                if emails & existing_emails:
                    return self.respond(
                        409,
                        {"title": "Duplicate contact", "status": 409},
                        headers={"Location": f"{self.url}/contacts/{existing_id}"},
                    )
            contact_id = self.new_id("ALT-")
            self.contacts[contact_id] = {**body, "id": contact_id}
        return self.respond(201, {"id": contact_id}, headers={"Location": f"{self.url}/contacts/{contact_id}"})

    def _file_note(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        errors: dict[str, list[str]] = {}
        if not body.get("notes"):
            errors["Notes"] = ["The Notes field is required."]
        if not body.get("contactIds"):
            errors["ContactIds"] = ["At least one contact is required."]
        if not body.get("fileNoteType"):
            errors["FileNoteType"] = ["The FileNoteType field is required."]
        if errors:
            return self._invalid(errors)
        if any(contact_id not in self.contacts for contact_id in body["contactIds"]):
            return self.respond(404, {"title": "Contact not found", "status": 404})
        with self.lock:
            note_id = self.new_id("FN-")
            self.file_notes.append({**body, "id": note_id})
        return self.respond(201, {"id": note_id}, headers={"Location": f"{self.url}/file-notes/{note_id}"})

    def with_email(self, email: str) -> list[dict[str, Any]]:
        return [
            contact
            for contact in self.contacts.values()
            if any(
                (address.get("address") or "").lower() == email.lower()
                for person in contact["people"]
                for address in person.get("emailAddresses") or []
            )
        ]
