"""The engine's error for input it cannot accept, below every other module (the protocol and its checks raise it)."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A request or configuration the engine cannot accept; the message says what to change."""
