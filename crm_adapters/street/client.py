"""Street's Open API over HTTP: bearer token, JSON:API media type, 600 GET/min and 100 writes/min per connection."""

from __future__ import annotations

from typing import Any

from crm_adapters.client import CrmHttpClient
from crm_adapters.errors import CrmTransientError
from crm_adapters.models import Provider
from crm_adapters.ratelimit import RateLimit, configured_limit

from . import mapping

DEFAULT_BASE_URL = "https://street.co.uk/open-api/v1"
READS = RateLimit(requests=600, per_seconds=60)
WRITES = RateLimit(requests=100, per_seconds=60)


class StreetClient(CrmHttpClient):
    provider = Provider.STREET
    media_type = "application/vnd.api+json"
    # Street documents no Retry-After; a minute is its rate window.
    default_retry_after = 60.0
    field_error_parser = staticmethod(mapping.field_errors)

    def base_url(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('token')}"}

    def rate_limits(self, method: str) -> list[tuple[str, RateLimit]]:
        if method.upper() == "GET":
            return [(self.limit_key("reads"), configured_limit(self.provider, "reads", READS))]
        return [(self.limit_key("writes"), configured_limit(self.provider, "writes", WRITES))]

    # --- endpoints ---

    def list_people(self, *, email: str | None = None, page_size: int = 10) -> dict[str, Any]:
        params: dict[str, Any] = {"page[size]": page_size}
        if email is not None:
            params["filter[email]"] = email
        return self.json_body(self.request("GET", "/people", params=params))

    def get_person(self, person_id: str) -> dict[str, Any]:
        return self.json_body(self.request("GET", f"/people/{person_id}"))

    def create_enquiry(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.json_body(self.request("POST", "/enquiries", json=body))

    def patch_person(self, person_id: str, body: dict[str, Any]) -> None:
        self.request("PATCH", f"/people/{person_id}", json=body)

    def create_note(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.json_body(self.request("POST", "/notes", json=body))

    def missing_person_after_enquiry(self) -> str:
        """Street accepted the enquiry but neither named nor lists the person: retry later (search may lag)."""
        raise CrmTransientError(
            "street: the enquiry was accepted but its person is not visible yet", provider=self.provider
        )
