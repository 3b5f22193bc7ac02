"""Loop under the assumptions crm_adapters/loop documents (a configurable base URL, bearer key, a flat contact
API). `api_available=False` plays the real risk: the endpoint is missing and everything answers 404."""

from __future__ import annotations

import re
from typing import Any

from werkzeug import Request, Response

from .base import FakeCrm


class FakeLoop(FakeCrm):
    api_key = "loop-team-key-77aa66bb"

    def __init__(self, *, api_available: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_available = api_available
        self.contacts: dict[str, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []

    def connection_config(self) -> dict[str, Any]:
        return {"base_url": f"{self.url}/api/v1"}

    def secrets(self) -> dict[str, str]:
        return {"api_key": self.api_key}

    def check_auth(self, request: Request) -> Response | None:
        if not self.api_available:
            return self.respond(404, {"message": "Not Found"})
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.respond(401, {"message": "Unauthenticated."})
        return None

    def route(self, request: Request) -> Response:
        path, method = request.path.removeprefix("/api/v1"), request.method
        if path == "/contacts" and method == "GET":
            email = (request.args.get("email") or "").lower()
            items = [c for c in self.contacts.values() if not email or c["email"].lower() == email]
            return self.respond(200, {"data": items[: int(request.args.get("limit") or 50)]})
        if path == "/contacts" and method == "POST":
            body = request.get_json(silent=True) or {}
            if "@" not in (body.get("email") or ""):
                return self.respond(
                    422,
                    {
                        "message": "The given data was invalid.",
                        "errors": {"email": ["The email must be a valid email address."]},
                    },
                )
            with self.lock:
                contact_id = self.new_id("L")
                self.contacts[contact_id] = {**body, "id": contact_id}
            return self.respond(201, {"id": contact_id})
        if match := re.fullmatch(r"/contacts/([^/]+)(/notes)?", path):
            contact = self.contacts.get(match.group(1))
            if contact is None:
                return self.respond(404, {"message": "Not Found"})
            if match.group(2) and method == "POST":
                body = request.get_json(silent=True) or {}
                with self.lock:
                    note_id = self.new_id("N")
                    self.notes.append({**body, "id": note_id, "contact_id": contact["id"]})
                return self.respond(201, {"id": note_id})
            if method == "GET":
                return self.respond(200, contact)
            if method == "PATCH":
                with self.lock:
                    contact.update(request.get_json(silent=True) or {})
                return self.respond(200, contact)
        return self.respond(404, {"message": "Not Found"})

    def with_email(self, email: str) -> list[dict[str, Any]]:
        return [c for c in self.contacts.values() if c["email"].lower() == email.lower()]
