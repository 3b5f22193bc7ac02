"""Reapit Foundations over HTTP.

Auth: OAuth2 client credentials at connect.reapit.cloud/token (Basic client id:secret), the token cached until
shortly before its 3600 s expiry. Every call carries `Authorization: Bearer`, `api-version: 2020-01-31` and
`reapit-customer`. Limits: 20 requests/s per app (the bucket is keyed by the app, since every customer's calls
count against it) and 5 concurrent calls per customer; Reapit's 429 has no Retry-After, so we wait 1 s.
"""

from __future__ import annotations

import hashlib
from typing import Any

from crm_adapters.client import CrmHttpClient
from crm_adapters.errors import CrmConflict
from crm_adapters.models import Provider
from crm_adapters.oauth import ClientCredentialsMixin
from crm_adapters.ratelimit import RateLimit, configured_limit

from . import mapping

DEFAULT_BASE_URL = "https://platform.reapit.cloud"
DEFAULT_TOKEN_URL = "https://connect.reapit.cloud/token"  # noqa: S105 - a URL, not a secret
API_VERSION = "2020-01-31"
PER_APP = RateLimit(requests=20, per_seconds=1)
CONCURRENT_PER_CUSTOMER = 5


class ReapitClient(ClientCredentialsMixin, CrmHttpClient):
    provider = Provider.REAPIT
    default_retry_after = 1.0
    field_error_parser = staticmethod(mapping.field_errors)

    def base_url(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    def token_url(self) -> str:
        return str(self.config.get("token_url") or DEFAULT_TOKEN_URL)

    def client_credentials(self) -> tuple[str, str]:
        return self.secret("client_id"), self.secret("client_secret")

    def auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.bearer_token()}",
            "api-version": API_VERSION,
            "reapit-customer": self.setting("customer_id"),
        }

    def rate_limits(self, method: str) -> list[tuple[str, RateLimit]]:
        # Per app, not per connection: a hash of the client id, so the bucket's key reveals nothing.
        app = hashlib.sha256(self.secret("client_id").encode()).hexdigest()[:16]
        return [(f"reapit:app:{app}", configured_limit(self.provider, "app", PER_APP))]

    def concurrency_limit(self) -> tuple[str, int] | None:
        slots = int(self.config.get("max_concurrency") or CONCURRENT_PER_CUSTOMER)
        return f"reapit:customer:{self.setting('customer_id')}", min(slots, CONCURRENT_PER_CUSTOMER)

    # --- endpoints ---

    def search_contacts(self, *, email: str | None = None, page_size: int = 25) -> dict[str, Any]:
        params: dict[str, Any] = {"pageSize": page_size}
        if email is not None:
            params["email"] = email
        return self.json_body(self.request("GET", "/contacts", params=params))

    def get_contact(self, contact_id: str) -> tuple[dict[str, Any], str | None]:
        """The contact and its eTag (the `_eTag` field, or the ETag header)."""
        response = self.request("GET", f"/contacts/{contact_id}")
        body = self.json_body(response)
        return body, body.get("_eTag") or response.headers.get("ETag")

    def create_contact(self, body: dict[str, Any]) -> str:
        response = self.request("POST", "/contacts", json=body)
        contact_id = self.location_id(response)
        if contact_id is None:
            raise self.created_without_id(response, what="contact", missing="no Location came back")
        return contact_id

    def patch_contact(self, contact_id: str, body: dict[str, Any], *, etag: str) -> None:
        try:
            self.request("PATCH", f"/contacts/{contact_id}", json=body, headers={"If-Match": etag})
        except CrmConflict as conflict:
            if conflict.status == 412:
                raise StaleETag(
                    "reapit: the contact changed since we read it (stale eTag)", provider=self.provider, status=412
                ) from None
            raise

    def create_journal_entry(self, body: dict[str, Any]) -> str | None:
        response = self.request("POST", "/journalEntries", json=body)
        return self.location_id(response)


class StaleETag(CrmConflict):
    """The record changed in Reapit since we read it (412 on If-Match): read it again and re-apply."""
