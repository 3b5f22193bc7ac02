"""Reapit Foundations as documented: client-credentials tokens, `api-version` and `reapit-customer` on every
call, 201 + Location on create, If-Match/eTag on PATCH (412 when stale), journal entries, 422 field errors."""

from __future__ import annotations

import re
from typing import Any

from werkzeug import Request, Response

from .base import ClientCredentialsIssuer, FakeCrm

API_VERSION = "2020-01-31"
CONSENTS = {"grant", "deny", "notAsked"}
PHONE_FIELDS = ("mobilePhone", "homePhone", "workPhone")


class FakeReapit(ClientCredentialsIssuer, FakeCrm):
    customer_id = "SBOX"

    def __init__(self, **kwargs: Any) -> None:
        FakeCrm.__init__(self, **kwargs)
        ClientCredentialsIssuer.__init__(self)
        self.contacts: dict[str, dict[str, Any]] = {}
        self.journal: list[dict[str, Any]] = []
        self._etag_counter = 0

    def connection_config(self) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "token_url": f"{self.url}/token",
            "customer_id": self.customer_id,
            "office_ids": ["OXF"],
            "negotiator_ids": ["JAS"],
        }

    def secrets(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def _etag(self) -> str:
        self._etag_counter += 1
        return f'"{self._etag_counter:08X}-REAPIT"'

    def check_auth(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        if not self.bearer_valid(request):
            return self.respond(401, {"statusCode": 401, "description": "Unauthorised"})
        if request.headers.get("api-version") != API_VERSION:
            return self.respond(400, {"statusCode": 400, "description": "api-version header is required"})
        if request.headers.get("reapit-customer") != self.customer_id:
            return self.respond(403, {"statusCode": 403, "description": "Forbidden"})
        return None

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/token" and method == "POST":
            return self.issue_token(request, self)
        if path == "/contacts" and method == "GET":
            return self._search(request)
        if path == "/contacts" and method == "POST":
            return self._create(request)
        if match := re.fullmatch(r"/contacts/([^/]+)", path):
            if method == "GET":
                return self._get(match.group(1))
            if method == "PATCH":
                return self._patch(request, match.group(1))
        if path == "/journalEntries" and method == "POST":
            return self._journal(request)
        return self.respond(404, {"statusCode": 404, "description": "Not found"})

    def _invalid(self, errors: list[dict[str, str]]) -> Response:
        return self.respond(422, {"statusCode": 422, "description": "Validation failed", "errors": errors})

    def _search(self, request: Request) -> Response:
        email = (request.args.get("email") or "").lower()
        items = [c for c in self.contacts.values() if not email or (c.get("email") or "").lower() == email]
        size = int(request.args.get("pageSize") or 25)
        return self.respond(
            200,
            {"_embedded": items[:size], "pageNumber": 1, "pageSize": size, "pageCount": 1, "totalCount": len(items)},
        )

    def _get(self, contact_id: str) -> Response:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return self.respond(404, {"statusCode": 404, "description": "Contact not found"})
        return self.respond(200, contact, headers={"ETag": contact["_eTag"]})

    def _create(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        errors = []
        if not body.get("surname"):
            errors.append({"field": "surname", "message": "Surname is required"})
        if body.get("marketingConsent") not in CONSENTS:
            errors.append({"field": "marketingConsent", "message": "Must be one of grant, deny, notAsked"})
        if not body.get("officeIds"):
            errors.append({"field": "officeIds", "message": "At least one office is required"})
        if not body.get("negotiatorIds"):
            errors.append({"field": "negotiatorIds", "message": "At least one negotiator is required"})
        if not body.get("email") and not any(body.get(f) for f in PHONE_FIELDS):
            errors.append({"field": "email", "message": "An email address or phone number is required"})
        if errors:
            return self._invalid(errors)
        with self.lock:
            contact_id = self.new_id("RPT")
            self.contacts[contact_id] = {**body, "id": contact_id, "_eTag": self._etag()}
        return Response(status=201, headers={"Location": f"{self.url}/contacts/{contact_id}"})

    def _patch(self, request: Request, contact_id: str) -> Response:
        with self.lock:
            contact = self.contacts.get(contact_id)
            if contact is None:
                return self.respond(404, {"statusCode": 404, "description": "Contact not found"})
            if_match = request.headers.get("If-Match")
            if not if_match:
                return self.respond(400, {"statusCode": 400, "description": "If-Match header is required"})
            if if_match != contact["_eTag"]:
                return self.respond(412, {"statusCode": 412, "description": "The eTag does not match"})
            body = request.get_json(silent=True) or {}
            contact.update({k: v for k, v in body.items() if k not in {"id", "_eTag"}})
            contact["_eTag"] = self._etag()
        return Response(status=204)

    def _journal(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        errors = [
            {"field": field, "message": f"{field} is required"}
            for field in ("typeId", "associatedType", "associatedId", "description")
            if not body.get(field)
        ]
        if errors:
            return self._invalid(errors)
        if body["associatedType"] == "contact" and body["associatedId"] not in self.contacts:
            return self._invalid([{"field": "associatedId", "message": "No such contact"}])
        with self.lock:
            entry_id = self.new_id("JNL")
            self.journal.append({**body, "id": entry_id})
        return Response(status=201, headers={"Location": f"{self.url}/journalEntries/{entry_id}"})

    def edit_in_crm(self, contact_id: str, **fields: Any) -> None:
        """Someone edits the contact in Reapit: its eTag changes."""
        with self.lock:
            self.contacts[contact_id].update(fields)
            self.contacts[contact_id]["_eTag"] = self._etag()

    def with_email(self, email: str) -> list[dict[str, Any]]:
        return [c for c in self.contacts.values() if (c.get("email") or "").lower() == email.lower()]
