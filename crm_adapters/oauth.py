"""OAuth2 client credentials (Reapit, Alto): bearer tokens fetched from the CRM's token endpoint and cached.

A mixin for a provider's `CrmHttpClient`: it supplies `bearer_token()` for `auth_headers`, `forget_credentials`
(a 401 drops the cached token so the shared client retries once with a fresh one) and `_tokens_in_use`, which
the client's `scrub` uses to cut the tokens, as well as the secrets, out of any text the CRM sends back.
Nothing here logs a token or puts one, or the client secret, into an error.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from typing import ClassVar

import httpx

from nurturehub.retry_after import retry_after_seconds

from .errors import CrmAuthError, CrmError, CrmRateLimited, CrmTransientError

_TOKENS: dict[str, tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()
# The last few tokens per credentials, for scrubbing CRM messages (a dropped token may still be valid).
_RECENT_TOKENS: dict[str, deque[str]] = {}
# One fetch at a time per credentials: threads that need the same token wait for it instead of all fetching.
_FETCH_LOCKS: dict[str, threading.Lock] = {}
#: A token is renewed this long before it expires, so that no call starts with a token about to die.
TOKEN_EXPIRY_MARGIN = 60.0


class ClientCredentialsMixin:
    """Bearer tokens from an OAuth2 client-credentials grant, cached per process until shortly before expiry.

    The cache key is a hash of the token URL and the credentials, so rotating the secret fetches a new token
    and no secret is ever used as a plain dictionary key.
    """

    provider: ClassVar[str]
    _http: httpx.Client

    def token_url(self) -> str:
        raise NotImplementedError

    def client_credentials(self) -> tuple[str, str]:
        raise NotImplementedError

    def _token_cache_key(self) -> str:
        client_id, client_secret = self.client_credentials()
        material = f"{self.provider}\0{self.token_url()}\0{client_id}\0{client_secret}"
        return hashlib.sha256(material.encode()).hexdigest()

    def bearer_token(self) -> str:
        key = self._token_cache_key()
        token = self._cached_token(key)
        if token is not None:
            return token
        with _TOKENS_LOCK:
            fetch_lock = _FETCH_LOCKS.setdefault(key, threading.Lock())
        with fetch_lock:
            token = self._cached_token(key)  # another thread may have fetched it while we waited
            if token is not None:
                return token
            token, lifetime = self._fetch_token()
            with _TOKENS_LOCK:
                _TOKENS[key] = (token, time.monotonic() + lifetime)
                _RECENT_TOKENS.setdefault(key, deque(maxlen=4)).append(token)
        return token

    @staticmethod
    def _cached_token(key: str) -> str | None:
        with _TOKENS_LOCK:
            cached = _TOKENS.get(key)
        if cached and cached[1] - TOKEN_EXPIRY_MARGIN > time.monotonic():
            return cached[0]
        return None

    def forget_credentials(self) -> bool:
        with _TOKENS_LOCK:
            return _TOKENS.pop(self._token_cache_key(), None) is not None

    def _tokens_in_use(self) -> list[str]:
        """This credential's recent tokens: one dropped after a 401 may still be valid, so it is scrubbed too."""
        try:
            key = self._token_cache_key()
        except CrmError:
            return []
        with _TOKENS_LOCK:
            return list(_RECENT_TOKENS.get(key, ()))

    def _fetch_token(self) -> tuple[str, float]:
        client_id, client_secret = self.client_credentials()
        try:
            response = self._http.post(
                self.token_url(),
                data={"grant_type": "client_credentials"},
                auth=(client_id, client_secret),
                headers={"Accept": "application/json"},
            )
        except httpx.TimeoutException:
            raise CrmTransientError(
                f"{self.provider}: the token endpoint did not answer in time", provider=self.provider
            ) from None
        except httpx.TransportError as error:
            raise CrmTransientError(
                f"{self.provider}: could not reach the token endpoint ({type(error).__name__})", provider=self.provider
            ) from None
        status = response.status_code
        if status == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise CrmRateLimited(
                f"{self.provider}: token endpoint rate limited",
                retry_after=5.0 if retry_after is None else retry_after,
                provider=self.provider,
                status=status,
            )
        if status >= 500:
            raise CrmTransientError(
                f"{self.provider}: the token endpoint answered {status}", provider=self.provider, status=status
            )
        if status >= 400:
            # 400 invalid_client / 401: the client id or secret is wrong; the body is not repeated (it may echo it).
            raise CrmAuthError(
                f"{self.provider}: the token endpoint refused the client credentials ({status})",
                provider=self.provider,
                status=status,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise CrmTransientError(
                f"{self.provider}: the token endpoint answered without an access token",
                provider=self.provider,
                status=status,
            ) from None
        return token, lifetime


def clear_token_cache() -> None:
    """Forget every cached token (tests, and after an operator rotates credentials)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()
        _RECENT_TOKENS.clear()
