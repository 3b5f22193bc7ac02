"""One redaction function for every foreign text we store or show (CRM answers, step errors, logs).

A CRM may echo a credential back in an error body, whole, cut short, or encoded (Basic auth is base64, a query
string is percent-encoded, a JSON body escapes it). `redact` replaces the secret and each of those encodings
*before* any truncation, then any 8+ character fragment of them that is still there (a CRM that cut its own echo,
or a secret split across a limit), so no part of a secret long enough to help a guess survives.

Secrets are passed explicitly where the caller holds them (the CRM client); places that only see an exception's
text (run tracking, step logs) use the secrets this process has recently handled, which the CRM client
remembers here (`remember_secrets`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache

PLACEHOLDER = "[redacted]"
#: Secrets shorter than this are replaced only whole (a 3-character "secret" would redact ordinary words).
MIN_SECRET_LENGTH = 4
#: A fragment of a secret (or of one of its encodings) this long or longer is redacted wherever it appears.
FRAGMENT_LENGTH = 8
#: How many recently handled secrets a process remembers for `redact(text)` without explicit secrets.
REMEMBERED_SECRETS = 256

_remembered: OrderedDict[str, None] = OrderedDict()
_remembered_lock = threading.Lock()


def remember_secrets(secrets: Iterable[str]) -> None:
    """Note secrets this process handles, so text that later reaches a log or a run row is redacted of them."""
    with _remembered_lock:
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                _remembered[secret] = None
                _remembered.move_to_end(secret)
        while len(_remembered) > REMEMBERED_SECRETS:
            _remembered.popitem(last=False)


def forget_remembered_secrets() -> None:
    """Drop every remembered secret (tests; after a credential rotation)."""
    with _remembered_lock:
        _remembered.clear()


def _remembered_secrets() -> list[str]:
    with _remembered_lock:
        return list(_remembered)


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend on the secret's bytes alone, at each of the three alignments it can
    take inside a longer base64 text (e.g. `client_id:secret` in a Basic auth header), in both alphabets."""
    cores = set()
    for offset in range(3):
        padded = b"\0" * offset + raw
        first = -(-8 * offset // 6)  # the first character made only of secret bits
        last = 8 * (offset + len(raw)) // 6  # one past the last such character
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            cores.add(encode(padded).decode()[first:last])
    return cores


def _percent_all(raw: bytes, digits: str) -> str:
    return "".join(f"%{digits[byte >> 4]}{digits[byte & 15]}" for byte in raw)


@lru_cache(maxsize=1024)
def encodings_of(secret: str) -> frozenset[str]:
    """The secret as it may appear in foreign text: itself, base64 (both alphabets, any alignment), URL-encoded
    (quote, quote_plus, every byte escaped; either hex case), JSON-escaped (once and twice) and hex."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, raw.hex(), raw.hex().upper()}
    forms |= _base64_cores(raw)
    for quoted in (
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
    ):
        forms |= {quoted, re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), quoted)}
    forms |= {_percent_all(raw, "0123456789ABCDEF"), _percent_all(raw, "0123456789abcdef")}
    for ensure_ascii in (True, False):
        once = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        forms |= {once, once.replace("/", "\\/"), json.dumps(once, ensure_ascii=ensure_ascii)[1:-1]}
    return frozenset(form for form in forms if len(form) >= MIN_SECRET_LENGTH)


@lru_cache(maxsize=1024)
def _fragments_of(form: str) -> frozenset[str]:
    return frozenset(form[start : start + FRAGMENT_LENGTH] for start in range(len(form) - FRAGMENT_LENGTH + 1))


def _cut_fragments(text: str, forms: Iterable[str]) -> str:
    """Replace every run of text covered by 8-character pieces of any form with one placeholder."""
    grams: set[str] = set()
    for form in forms:
        grams |= _fragments_of(form)
    if not grams or len(text) < FRAGMENT_LENGTH:
        return text
    covered = bytearray(len(text))
    for start in range(len(text) - FRAGMENT_LENGTH + 1):
        if text[start : start + FRAGMENT_LENGTH] in grams:
            covered[start : start + FRAGMENT_LENGTH] = b"\1" * FRAGMENT_LENGTH
    if not any(covered):
        return text
    pieces, index = [], 0
    while index < len(text):
        if covered[index]:
            while index < len(text) and covered[index]:
                index += 1
            pieces.append(PLACEHOLDER)
        else:
            end = covered.find(b"\1", index)
            end = len(text) if end == -1 else end
            pieces.append(text[index:end])
            index = end
    return "".join(pieces)


def redact(text: object, secrets: Iterable[str] | None = None, *, limit: int | None = None) -> str:
    """`text` with every secret, each encoding of it and any 8+ character fragment of those replaced by
    `[redacted]`, then cut to `limit` characters. Without `secrets`, the ones this process remembers."""
    result = str(text)
    wanted = [secret for secret in (_remembered_secrets() if secrets is None else secrets) if secret]
    forms: set[str] = set()
    for secret in wanted:
        if len(secret) >= MIN_SECRET_LENGTH:
            forms |= encodings_of(secret)
    # Longest first, so that an encoding containing another form is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        result = result.replace(form, PLACEHOLDER)
    result = _cut_fragments(result, forms)
    if limit is not None and len(result) > limit:
        result = result[:limit]
    return result
