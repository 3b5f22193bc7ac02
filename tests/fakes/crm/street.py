"""Street's Open API as documented: bearer token, JSON:API media type, enquiries that create people, people
patched, notes on a target; 600 GET/min and 100 writes/min (429 beyond, without Retry-After).

The fake creates a new person for every enquiry, even for an email it already knows: the worst case, so that
a test proves the adapter never sends the same contact twice."""

from __future__ import annotations

import re
from typing import Any

from werkzeug import Request, Response

from .base import FakeCrm, SlidingWindowLimit

JSON_API = "application/vnd.api+json"


class FakeStreet(FakeCrm):
    json_type = JSON_API
    token = "street-test-token"

    def __init__(
        self, *, reads_per_window: int = 600, writes_per_window: int = 100, window: float = 60.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.reads = SlidingWindowLimit(reads_per_window, window)
        self.writes = SlidingWindowLimit(writes_per_window, window)
        self.people: dict[str, dict[str, Any]] = {}
        self.enquiries: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.rate_limited = 0

    def connection_config(self) -> dict[str, Any]:
        return {"base_url": self.url}

    def secrets(self) -> dict[str, str]:
        return {"token": self.token}

    def _errors(self, status: int, *items: tuple[str, str]) -> Response:
        return self.respond(
            status,
            {
                "errors": [
                    {
                        "status": str(status),
                        "title": "Invalid attribute",
                        "detail": detail,
                        "source": {"pointer": pointer},
                    }
                    for pointer, detail in items
                ]
            },
        )

    def check_auth(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self.respond(401, {"errors": [{"status": "401", "title": "Unauthenticated"}]})
        if request.method != "GET" and request.headers.get("Content-Type", "").split(";")[0] != JSON_API:
            return self.respond(415, {"errors": [{"status": "415", "title": "Unsupported Media Type"}]})
        with self.lock:
            allowed = self.reads.allow() if request.method == "GET" else self.writes.allow()
            if not allowed:
                self.rate_limited += 1
                return self.respond(429, {"errors": [{"status": "429", "title": "Too Many Requests"}]})
        return None

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/people" and method == "GET":
            email = (request.args.get("filter[email]") or "").lower()
            items = [p for p in self.people.values() if not email or p["attributes"]["email"].lower() == email]
            size = int(request.args.get("page[size]") or 10)
            return self.respond(200, {"data": items[:size], "meta": {"total": len(items)}})
        if match := re.fullmatch(r"/people/([^/]+)", path):
            person = self.people.get(match.group(1))
            if person is None:
                return self.respond(404, {"errors": [{"status": "404", "title": "Not Found"}]})
            if method == "GET":
                return self.respond(200, {"data": person})
            if method == "PATCH":
                return self._patch(request, person)
        if path == "/enquiries" and method == "POST":
            return self._enquiry(request)
        if path == "/notes" and method == "POST":
            return self._note(request)
        return self.respond(404, {"errors": [{"status": "404", "title": "Not Found"}]})

    def _enquiry(self, request: Request) -> Response:
        data = (request.get_json(silent=True) or {}).get("data") or {}
        attributes = data.get("attributes") or {}
        if data.get("type") != "enquiry":
            return self._errors(409, ("/data/type", "type must be enquiry"))
        problems = []
        if "@" not in (attributes.get("email") or ""):
            problems.append(("/data/attributes/email", "must be a valid email address"))
        if not attributes.get("last_name"):
            problems.append(("/data/attributes/last_name", "can't be blank"))
        if problems:
            return self._errors(422, *problems)
        with self.lock:
            person_id = self.new_id()
            self.people[person_id] = {
                "type": "person",
                "id": person_id,
                "attributes": {
                    "first_name": attributes.get("first_name") or "",
                    "last_name": attributes["last_name"],
                    "email": attributes["email"],
                    "phone": attributes.get("phone"),
                    "address": None,
                    "marketing_consent": attributes.get("marketing_consent"),
                },
            }
            enquiry_id = self.new_id()
            self.enquiries.append({"id": enquiry_id, **attributes})
        return self.respond(
            201,
            {
                "data": {
                    "type": "enquiry",
                    "id": enquiry_id,
                    "attributes": attributes,
                    "relationships": {"person": {"data": {"type": "person", "id": person_id}}},
                }
            },
        )

    def _patch(self, request: Request, person: dict[str, Any]) -> Response:
        data = (request.get_json(silent=True) or {}).get("data") or {}
        if data.get("type") != "person" or str(data.get("id")) != person["id"]:
            return self._errors(409, ("/data", "type and id must match the resource"))
        with self.lock:
            person["attributes"].update(data.get("attributes") or {})
        return self.respond(200, {"data": person})

    def _note(self, request: Request) -> Response:
        data = (request.get_json(silent=True) or {}).get("data") or {}
        attributes = data.get("attributes") or {}
        problems = [
            (f"/data/attributes/{f}", "can't be blank")
            for f in ("body", "target_type", "target_id")
            if not attributes.get(f)
        ]
        if problems:
            return self._errors(422, *problems)
        if attributes["target_type"] == "person" and attributes["target_id"] not in self.people:
            return self.respond(404, {"errors": [{"status": "404", "title": "Target not found"}]})
        with self.lock:
            note_id = self.new_id()
            self.notes.append({"id": note_id, **attributes})
        return self.respond(201, {"data": {"type": "note", "id": note_id, "attributes": attributes}})

    def with_email(self, email: str) -> list[dict[str, Any]]:
        return [p for p in self.people.values() if p["attributes"]["email"].lower() == email.lower()]
