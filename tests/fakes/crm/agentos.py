"""agentOS (LetMC) as documented: a static key in the `api_key` header, 50 requests/min per key, 429 asking
for a 60 s wait, and a key blocked (403) when it keeps calling during that wait. Tenancy applications create a
prospect, or link to the existing one with the same email."""

from __future__ import annotations

import re
import time
from typing import Any

from werkzeug import Request, Response

from .base import FakeCrm, SlidingWindowLimit, raw_headers

APPLICATION_PATH = "/v4/applications/prospects/createTenancyApplication"


class FakeAgentOs(FakeCrm):
    api_key = "agentos-key-5f4e3d2c1b"
    short_name = "oxfordlets"
    branch_id = "BRANCH-1"

    def __init__(self, *, limit: int = 50, window: float = 60.0, penalty: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = SlidingWindowLimit(limit, window)
        self.penalty = penalty
        self.limited_until = 0.0
        self.blocked = False
        self.prospects: dict[str, dict[str, Any]] = {}  # by lower-case email
        self.rate_limited = 0

    def connection_config(self) -> dict[str, Any]:
        return {"base_url": self.url, "short_name": self.short_name, "branch_id": self.branch_id}

    def secrets(self) -> dict[str, str]:
        return {"api_key": self.api_key}

    def check_auth(self, request: Request) -> Response | None:
        if raw_headers(request).get("api_key") != self.api_key:
            return self.respond(401, {"Message": "Authorization has been denied for this request."})
        with self.lock:
            if self.blocked:
                return self.respond(403, {"Message": "API key blocked"})
            now = time.monotonic()
            if now < self.limited_until:
                # Calling again during the wait gets the key blocked, as agentOS warns.
                self.blocked = True
                return self.respond(403, {"Message": "API key blocked"})
            if not self.limit.allow():
                self.limited_until = now + self.penalty
                self.rate_limited += 1
                return self.respond(429, {"Message": "Too many requests"})
        return None

    def route(self, request: Request) -> Response:
        if request.path == APPLICATION_PATH and request.method == "POST":
            return self._application(request)
        branches = re.fullmatch(r"/v4/advertising/([^/]+)/company/branches/(\d+)/(\d+)", request.path)
        if branches and request.method == "GET":
            if branches.group(1) != self.short_name:
                return self.respond(404, {"Message": "Unknown company"})
            return self.respond(200, {"Data": [{"OID": self.branch_id, "Name": "Oxford"}], "TotalCount": 1})
        return self.respond(404, {"Message": "No HTTP resource was found that matches the request URI."})

    def _application(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        state = {
            f"model.{field}": [f"The {field} field is required."]
            for field in ("BranchID", "Forename", "Surname", "EmailAddress")
            if not body.get(field)
        }
        if state:
            return self.respond(400, {"Message": "The request is invalid.", "ModelState": state})
        email = body["EmailAddress"].lower()
        with self.lock:
            prospect = self.prospects.setdefault(
                email,
                {
                    "id": self.new_id("P"),
                    "Forename": body["Forename"],
                    "Surname": body["Surname"],
                    "EmailAddress": body["EmailAddress"],
                    "applications": [],
                },
            )
            prospect["applications"].append(body)
        return self.respond(200, "Tenancy application created")
