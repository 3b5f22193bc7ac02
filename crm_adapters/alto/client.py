"""Alto (Zoopla) over HTTP.

Auth: OAuth2 client credentials at `<host>/token` (Basic client id:secret), token cached until shortly before
its 3600 s expiry; every call carries `Authorization: Bearer` and `AgencyRef` (a wrong ref answers 403). Alto
publishes no numeric rate limit and no Retry-After contract: we keep to 10 requests/s per connection (settings
can change it) and wait 5 s after a 429 without Retry-After. A duplicate contact answers 409 with the existing
contact's `Location`.
"""

from __future__ import annotations

from typing import Any

import httpx

from crm_adapters.client import CrmHttpClient
from crm_adapters.models import Provider
from crm_adapters.oauth import ClientCredentialsMixin
from crm_adapters.ratelimit import RateLimit, configured_limit

from . import mapping

DEFAULT_BASE_URL = "https://api.alto.zoopla.co.uk"
SANDBOX_BASE_URL = "https://api.alto.zoopladev.co.uk"
PER_CONNECTION = RateLimit(requests=10, per_seconds=1)


class AltoClient(ClientCredentialsMixin, CrmHttpClient):
    provider = Provider.ALTO
    default_retry_after = 5.0
    field_error_parser = staticmethod(mapping.field_errors)

    def base_url(self) -> str:
        if self.config.get("base_url"):
            return str(self.config["base_url"]).rstrip("/")
        return SANDBOX_BASE_URL if self.config.get("sandbox") else DEFAULT_BASE_URL

    def token_url(self) -> str:
        return str(self.config.get("token_url") or f"{self.base_url()}/token")

    def client_credentials(self) -> tuple[str, str]:
        return self.secret("client_id"), self.secret("client_secret")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token()}", "AgencyRef": self.setting("agency_ref")}

    def rate_limits(self, method: str) -> list[tuple[str, RateLimit]]:
        return [(self.limit_key("requests"), configured_limit(self.provider, "requests", PER_CONNECTION))]

    def conflict_existing_id(self, response: httpx.Response) -> str | None:
        return self.location_id(response)

    # --- endpoints ---

    def list_branches(self) -> Any:
        return self.json_body(self.request("GET", "/branches"))

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        return self.json_body(self.request("GET", f"/contacts/{contact_id}"))

    def create_contact(self, body: dict[str, Any]) -> str:
        response = self.request("POST", "/contacts", json=body)
        contact_id = self.location_id(response)
        if contact_id is None and response.content:
            contact_id = str((self.json_body(response) or {}).get("id") or "") or None
        if contact_id is None:
            raise self.created_without_id(response, what="contact", missing="its id did not come back")
        return contact_id

    def create_file_note(self, body: dict[str, Any]) -> str | None:
        response = self.request("POST", "/file-notes", json=body)
        note_id = self.location_id(response)
        if note_id is None and response.content:
            body_json = self.json_body(response)
            note_id = str(body_json.get("id")) if isinstance(body_json, dict) and body_json.get("id") else None
        return note_id
