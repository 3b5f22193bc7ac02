"""Encryption of CRM secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation (MultiFernet)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretsUnreadable(Exception):
    """The stored CRM secrets cannot be decrypted with any configured key (wrong or rotated-out key)."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str, debug: bool) -> MultiFernet:
    if keys:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    if not debug:
        raise ImproperlyConfigured("CRM_ENCRYPTION_KEYS is required when DEBUG is off")
    # Development only: a key derived from SECRET_KEY, so `make run` needs no set-up.
    derived = base64.urlsafe_b64encode(hashlib.sha256(f"crm-secrets:{secret_key}".encode()).digest())
    return MultiFernet([Fernet(derived)])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.CRM_ENCRYPTION_KEYS), settings.SECRET_KEY, settings.DEBUG)


def encrypt_secrets(secrets: dict[str, str]) -> str:
    return _current().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()


def decrypt_secrets(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_current().decrypt(token.encode()))
    except InvalidToken as error:
        raise SecretsUnreadable(SecretsUnreadable.__doc__) from error
