"""Syncing apps as Inngest's dev server does: `PUT` each serve URL, and the SDK registers its functions with us.

The dispatcher keeps one `AppSync`; its sync thread retries the apps that failed and re-syncs every app now and
then, so functions added or changed are picked up without a restart.
"""

from __future__ import annotations

import logging

import httpx

from .protocol import canonical_json, sign_body

logger = logging.getLogger("jobs.engine.dispatch")


class AppSync:
    """The serve URLs to sync, which of them still need it, and the HTTP client that syncs them."""

    def __init__(self, urls: list[str], *, signing_key: str, server_kind: str) -> None:
        self.urls = list(urls)
        self.pending: set[str] = set(self.urls)
        self.signing_key = signing_key
        self.server_kind = server_kind
        self._http = httpx.Client(timeout=httpx.Timeout(30, connect=10))

    def mark_all_pending(self) -> None:
        self.pending.update(self.urls)

    def sync_pending(self) -> dict[str, str]:
        """PUT every URL still pending; returns the errors by URL (judged by the body, as Inngest does)."""
        errors: dict[str, str] = {}
        for url in sorted(self.pending):
            error = self._sync_one(url)
            if error:
                errors[url] = error
                logger.warning("app sync failed", extra={"url": url, "error": error})
            else:
                self.pending.discard(url)
                logger.info("app synced", extra={"url": url})
        return errors

    def close(self) -> None:
        self._http.close()

    def _sync_one(self, url: str) -> str:
        body = canonical_json({"url": url})
        headers = {"Content-Type": "application/json", "X-Inngest-Server-Kind": self.server_kind}
        if self.signing_key:
            headers["X-Inngest-Signature"] = sign_body(body, self.signing_key)
        try:
            response = self._http.put(url, content=body, headers=headers, timeout=30)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        try:
            payload = response.json()
        except ValueError:
            payload = None
        # The SDK answers 200 even when registration failed, with {"error": ...}: trust the body, not the status.
        if isinstance(payload, dict) and payload.get("error"):
            return str(payload["error"])
        if response.status_code >= 400:
            return f"HTTP {response.status_code}: {response.text[:500]}"
        return ""
