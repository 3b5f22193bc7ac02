"""Loop over HTTP, against ASSUMED endpoints (decision in domain.md: confirm them with Loop support).

What is known: Loop support issues an API key per team; the public v1 API is built for websites and documents
no write endpoints. What this client assumes, all relative to the connection's configured `base_url`:

    GET    /contacts?email=<address>      search (answers {"data": [...]})
    GET    /contacts/{id}                 one contact
    POST   /contacts                      create (201, {"id": ...})
    PATCH  /contacts/{id}                 update
    POST   /contacts/{id}/notes           add a note (201, {"id": ...})

with `Authorization: Bearer <api_key>` and JSON bodies. A 404 from the search endpoint during the connection
check means the assumed API is not there, and the check says so plainly. No rate limit is published: we keep
to 5 requests/s per connection (settings can change it) and wait 5 s after a 429 without Retry-After.
"""

from __future__ import annotations

from typing import Any

from crm_adapters.client import CrmHttpClient
from crm_adapters.errors import CrmNotFound
from crm_adapters.models import Provider
from crm_adapters.ratelimit import RateLimit, configured_limit

from . import mapping

PER_CONNECTION = RateLimit(requests=5, per_seconds=1)


class LoopClient(CrmHttpClient):
    provider = Provider.LOOP
    default_retry_after = 5.0
    field_error_parser = staticmethod(mapping.field_errors)

    def base_url(self) -> str:
        return self.setting("base_url").rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('api_key')}"}

    def rate_limits(self, method: str) -> list[tuple[str, RateLimit]]:
        return [(self.limit_key("requests"), configured_limit(self.provider, "requests", PER_CONNECTION))]

    # --- endpoints ---

    def probe_contacts_endpoint(self) -> None:
        """The connection check: the assumed contacts endpoint must exist for this key and base URL."""
        try:
            self.request("GET", "/contacts", params={"limit": 1})
        except CrmNotFound:
            raise CrmNotFound(
                f"loop: {self.base_url()}/contacts answered 404: the contact API this adapter assumes is not "
                "available at this base URL. Ask Loop support for the write API's address and set it as the "
                "connection's base_url.",
                provider=self.provider,
                status=404,
            ) from None

    def search_contacts(self, email: str) -> Any:
        return self.json_body(self.request("GET", "/contacts", params={"email": email}))

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        return self.json_body(self.request("GET", f"/contacts/{contact_id}"))

    def create_contact(self, body: dict[str, Any]) -> str:
        response = self.request("POST", "/contacts", json=body)
        answer = self.json_body(response)
        contact_id = answer.get("id") if isinstance(answer, dict) else None
        if not contact_id:
            raise self.created_without_id(response, what="contact", missing="its id did not come back")
        return str(contact_id)

    def patch_contact(self, contact_id: str, body: dict[str, Any]) -> None:
        self.request("PATCH", f"/contacts/{contact_id}", json=body)

    def create_note(self, contact_id: str, body: dict[str, Any]) -> str | None:
        response = self.request("POST", f"/contacts/{contact_id}/notes", json=body)
        answer = self.json_body(response) if response.content else {}
        return str(answer["id"]) if isinstance(answer, dict) and answer.get("id") else None
