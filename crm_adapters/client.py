"""The HTTP base every provider's `client.py` builds on: explicit timeouts, auth, the shared rate limits and
concurrency caps, safe logging, and the translation of HTTP answers into `crm_adapters.errors`.

This module and the providers' `client.py` modules are the only ones that talk HTTP or raise CRM errors.
Nothing here ever logs or puts into an exception a header, a request body, a token or a secret.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import httpx
from django.conf import settings

from nurturehub.redaction import redact, remember_secrets
from nurturehub.retry_after import retry_after_seconds

from .errors import (
    CrmAuthError,
    CrmConfigurationError,
    CrmConflict,
    CrmError,
    CrmNotFound,
    CrmRateLimited,
    CrmTransientError,
    CrmValidationError,
)
from .locks import SlotsExhausted, concurrency_slot
from .mapping import id_from_location
from .models import CrmConnection
from .ratelimit import RateLimit, RateLimitExceeded, max_wait_seconds, rate_limit_admit, rate_limit_pause

logger = logging.getLogger("crm_adapters.http")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verified TLS context for every CRM client: loading the CA bundle costs ~40 ms, so never per push."""
    return httpx.create_ssl_context()


def http_timeout() -> httpx.Timeout:
    """Explicit timeouts for every CRM call (settings CRM_HTTP_TIMEOUT / CRM_HTTP_CONNECT_TIMEOUT, seconds)."""
    total = float(settings.CRM_HTTP_TIMEOUT)
    connect = float(settings.CRM_HTTP_CONNECT_TIMEOUT)
    return httpx.Timeout(total, connect=min(connect, total))


class CrmHttpClient:
    """One connection's HTTP client. Subclasses set the provider facts and may refine `translate`."""

    provider: ClassVar[str] = ""
    #: How long to wait after a 429 that carries no Retry-After (each CRM documents its own wait).
    default_retry_after: ClassVar[float] = 5.0
    #: The media type of request and response bodies.
    media_type: ClassVar[str] = "application/json"
    #: The provider's pure reader of a 400/422 JSON body into [{"field", "message"}] (its `mapping.field_errors`).
    field_error_parser: ClassVar[Callable[[Any], list[dict[str, str]]] | None] = None

    def __init__(self, connection: CrmConnection, *, http: httpx.Client | None = None) -> None:
        self.connection = connection
        self.config: dict[str, Any] = dict(connection.config or {})
        self._secrets = connection.secrets
        self._http = http or httpx.Client(
            base_url=self.base_url(),
            timeout=http_timeout(),
            verify=tls_context(),
            follow_redirects=False,
            headers={"Accept": self.media_type, "User-Agent": "NurtureHub-CRM/1.0"},
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} connection={self.connection.pk}>"

    # --- what a provider defines -------------------------------------------------------------------------------

    def base_url(self) -> str:
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate one call (may fetch a token first)."""
        return {}

    def rate_limits(self, method: str) -> list[tuple[str, RateLimit]]:
        """The limits a call with this method counts against, as (shared key, limit) pairs."""
        return []

    def concurrency_limit(self) -> tuple[str, int] | None:
        """(shared key, slots) when the CRM caps concurrent calls, else None."""
        return None

    def forget_credentials(self) -> bool:
        """Drop a cached token after a 401; True when a fresh one is worth one more try."""
        return False

    # --- helpers for providers ---------------------------------------------------------------------------------

    def secret(self, name: str) -> str:
        value = self._secrets.get(name, "")
        if not value:
            raise CrmConfigurationError(
                f"The {self.provider} connection has no '{name}' secret", provider=self.provider
            )
        return value

    def setting(self, name: str, default: str | None = None) -> str:
        value = self.config.get(name, default)
        if value in (None, ""):
            raise CrmConfigurationError(
                f"The {self.provider} connection needs '{name}' in its config", provider=self.provider
            )
        return str(value)

    def known_secrets(self) -> list[str]:
        """Our secrets for this connection and its recent bearer tokens: what a CRM's echo must never keep."""
        secrets = [*self._secrets.values(), *self._tokens_in_use()]
        remember_secrets(secrets)  # so run tracking and logs redact them too, should an exception carry one
        return secrets

    def _tokens_in_use(self) -> list[str]:
        return []

    def limit_key(self, name: str) -> str:
        return f"{self.provider}:{self.connection.pk}:{name}"

    # --- the call ---------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call: wait for the rate limits, hold a concurrency slot, send, translate any error."""
        self._wait_for_rate_limits(method)
        response = self._send(method, path, json=json, params=params, headers=headers)
        if response.status_code == 401 and self.forget_credentials():
            # A token can expire early (revoked, clock skew): fetch a fresh one and try exactly once more.
            self._wait_for_rate_limits(method)
            response = self._send(method, path, json=json, params=params, headers=headers)
        if response.status_code >= 400:
            error = self.translate(response)
            if isinstance(error, CrmRateLimited):
                self._pause_everyone(method, error.retry_after)
            raise error
        return response

    def _send(
        self, method: str, path: str, *, json: Any, params: dict[str, Any] | None, headers: dict[str, str] | None
    ) -> httpx.Response:
        all_headers = {**self.auth_headers(), **(headers or {})}
        if json is not None:
            all_headers.setdefault("Content-Type", self.media_type)
        started = time.monotonic()
        try:
            with self._slot():
                response = self._http.request(method, path, json=json, params=params, headers=all_headers)
        except httpx.TimeoutException:
            self._log(method, path, None, started)
            raise CrmTransientError(
                f"{self.provider}: the CRM did not answer in time", provider=self.provider
            ) from None
        except httpx.TransportError as error:
            self._log(method, path, None, started)
            raise CrmTransientError(
                f"{self.provider}: could not reach the CRM ({type(error).__name__})", provider=self.provider
            ) from None
        self._log(method, path, response.status_code, started)
        return response

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        cap = self.concurrency_limit()
        if cap is None:
            yield
            return
        key, slots = cap
        try:
            with concurrency_slot(key, limit=slots, max_wait=max_wait_seconds()):
                yield
        except SlotsExhausted as busy:
            raise CrmRateLimited(
                f"{self.provider}: all {slots} concurrent slots are busy",
                retry_after=busy.retry_after,
                provider=self.provider,
            ) from None

    def _wait_for_rate_limits(self, method: str) -> None:
        for key, limit in self.rate_limits(method):
            try:
                admission = rate_limit_admit(key=key, limit=limit, max_wait=max_wait_seconds())
            except RateLimitExceeded as full:
                raise CrmRateLimited(
                    f"{self.provider}: our rate limit for this connection is reached",
                    retry_after=full.retry_after,
                    provider=self.provider,
                ) from None
            if admission.wait > 0:
                time.sleep(admission.wait)

    def _pause_everyone(self, method: str, seconds: float) -> None:
        """After a 429 no process calls this CRM for the connection until the wait is over."""
        for key, limit in self.rate_limits(method):
            rate_limit_pause(key=key, limit=limit, seconds=seconds)

    def _log(self, method: str, path: str, status: int | None, started: float) -> None:
        # The path only: queries can hold an email address, and headers hold credentials.
        logger.debug(
            "%s %s %s -> %s",
            self.provider,
            method,
            path.split("?", 1)[0],
            status if status is not None else "no answer",
            extra={
                "provider": self.provider,
                "status": status,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )

    # --- translation ------------------------------------------------------------------------------------------

    def translate(self, response: httpx.Response) -> CrmError:
        """The CRM error for an HTTP error answer (providers refine field errors, conflicts and waits)."""
        status = response.status_code
        where = f"{self.provider} answered {status}"
        if status == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            return CrmRateLimited(
                f"{where}: rate limited",
                retry_after=self.default_retry_after if retry_after is None else retry_after,
                provider=self.provider,
                status=status,
            )
        if status in (401, 403):
            return CrmAuthError(f"{where}: the credentials were refused", provider=self.provider, status=status)
        if status in (400, 422):
            field_errors = [
                {
                    "field": redact(item.get("field", ""), self.known_secrets(), limit=500),
                    "message": redact(item.get("message", ""), self.known_secrets(), limit=500),
                }
                for item in self.field_errors(response)
            ]
            return CrmValidationError(
                None if field_errors else f"{where}: the CRM rejected the data",
                field_errors=field_errors,
                provider=self.provider,
                status=status,
            )
        if status == 404:
            return CrmNotFound(f"{where}: not found", provider=self.provider, status=status)
        if status in (409, 412):
            return CrmConflict(
                f"{where}: conflict",
                existing_id=self.conflict_existing_id(response),
                provider=self.provider,
                status=status,
            )
        if status >= 500 or status == 408:
            return CrmTransientError(f"{where}: server error", provider=self.provider, status=status)
        return CrmError(f"{where}: unexpected answer", provider=self.provider, status=status)

    def field_errors(self, response: httpx.Response) -> list[dict[str, str]]:
        """The CRM's field messages from a 400/422 body, as [{"field", "message"}]; none when it is not JSON."""
        if self.field_error_parser is None:
            return []
        try:
            return self.field_error_parser(response.json())
        except ValueError:
            return []

    def conflict_existing_id(self, response: httpx.Response) -> str | None:
        """On a duplicate, the id of the record that already exists, when the CRM says."""
        return None

    def json_body(self, response: httpx.Response) -> Any:
        """The response's JSON; a CRM that answers with something else is failing (transient)."""
        try:
            return response.json()
        except ValueError:
            raise CrmTransientError(
                f"{self.provider} answered {response.status_code} with a body that is not JSON",
                provider=self.provider,
                status=response.status_code,
            ) from None

    def location_id(self, response: httpx.Response) -> str | None:
        """The id of what a create made, from the `Location` header (None when absent)."""
        return id_from_location(response.headers.get("Location"))

    def created_without_id(self, response: httpx.Response, *, what: str, missing: str) -> CrmTransientError:
        """A 2xx create whose id did not come back: retry later (the CRM's duplicate check finds the record)."""
        return CrmTransientError(
            f"{self.provider}: the {what} was created but {missing}",
            provider=self.provider,
            status=response.status_code,
        )

    def close(self) -> None:
        self._http.close()
