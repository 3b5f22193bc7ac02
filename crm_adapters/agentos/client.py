"""agentOS (LetMC) over HTTP: a static key in the `api_key` header, 50 requests/min per key.

On a 429 agentOS asks for a 60 s wait, and hammering after one can get the key blocked (403), so a 429 pauses
every process using this connection for the whole wait (through the shared limiter), not just this call.
"""

from __future__ import annotations

from typing import Any

from crm_adapters.client import CrmHttpClient
from crm_adapters.models import Provider
from crm_adapters.ratelimit import RateLimit, configured_limit

from . import mapping

DEFAULT_BASE_URL = "https://live-api.letmc.com"
# The write path domain.md documents; agentOS's own pages also show shortName-scoped variants, so a connection
# can override it with config `create_application_path` ({shortName} and {branchId} are filled in).
DEFAULT_CREATE_APPLICATION_PATH = "/v4/applications/prospects/createTenancyApplication"
PER_KEY = RateLimit(requests=50, per_seconds=60)


class AgentOsClient(CrmHttpClient):
    provider = Provider.AGENTOS
    default_retry_after = 60.0
    field_error_parser = staticmethod(mapping.field_errors)

    def base_url(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"api_key": self.secret("api_key")}

    def rate_limits(self, method: str) -> list[tuple[str, RateLimit]]:
        return [(self.limit_key("requests"), configured_limit(self.provider, "requests", PER_KEY))]

    # --- endpoints ---

    def list_branches(self, *, offset: int = 0, count: int = 100) -> Any:
        short_name = self.setting("short_name")
        return self.json_body(self.request("GET", f"/v4/advertising/{short_name}/company/branches/{offset}/{count}"))

    def create_tenancy_application(self, body: dict[str, Any]) -> Any:
        path = str(self.config.get("create_application_path") or DEFAULT_CREATE_APPLICATION_PATH).format(
            shortName=self.config.get("short_name", ""), branchId=body.get("BranchID", "")
        )
        response = self.request("POST", path, json=body)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
