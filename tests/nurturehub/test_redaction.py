"""No encoding of a secret, nor any 8+ character piece of one, survives `redact` (a property, over many secrets)."""

from __future__ import annotations

import base64
import json
import urllib.parse

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from nurturehub.redaction import FRAGMENT_LENGTH, PLACEHOLDER, forget_remembered_secrets, redact, remember_secrets

ENCODERS = {
    "plain": lambda secret: secret,
    "base64": lambda secret: base64.b64encode(secret.encode()).decode(),
    "base64-unpadded": lambda secret: base64.b64encode(secret.encode()).decode().rstrip("="),
    "base64-urlsafe": lambda secret: base64.urlsafe_b64encode(secret.encode()).decode(),
    "url": lambda secret: urllib.parse.quote(secret, safe=""),
    "url-plus": lambda secret: urllib.parse.quote_plus(secret),
    "url-path": lambda secret: urllib.parse.quote(secret),
    "url-every-byte-lowercase": lambda secret: "".join(f"%{byte:02x}" for byte in secret.encode()),
    "json": lambda secret: json.dumps(secret)[1:-1],
    "json-unicode": lambda secret: json.dumps(secret, ensure_ascii=False)[1:-1],
    "json-twice": lambda secret: json.dumps(json.dumps(secret)[1:-1])[1:-1],
    "hex": lambda secret: secret.encode().hex(),
}

secrets = st.text(min_size=FRAGMENT_LENGTH, max_size=60).filter(lambda value: "redacted" not in value)
around = st.text(max_size=40)


def pieces(text: str) -> set[str]:
    return {text[start : start + FRAGMENT_LENGTH] for start in range(len(text) - FRAGMENT_LENGTH + 1)}


def assert_no_piece_of(encoded: str, result: str) -> None:
    leaked = {piece for piece in pieces(encoded) if piece in result}
    assert not leaked, (encoded, result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=secrets, encoding=st.sampled_from(sorted(ENCODERS)), before=around, after=around)
@example(secret="s3cr3t-t0ken-abcdef", encoding="plain", before="x" * 495, after="tail")
def test_no_encoding_of_a_secret_survives(secret, encoding, before, after):
    encoded = ENCODERS[encoding](secret)
    assume(PLACEHOLDER not in encoded)
    result = redact(before + encoded + after, [secret])
    assert_no_piece_of(encoded, result)


@settings(max_examples=200, deadline=None)
@given(secret=secrets, before=around, after=around, limit=st.integers(min_value=0, max_value=200))
@example(secret="A" * 12 + "secret-tail-XYZ", before="e" * 490, after="", limit=500)
def test_a_secret_across_the_limit_leaves_no_piece(secret, before, after, limit):
    """The old scrub cut to 500 characters first: a secret crossing the cut kept its head in the text."""
    result = redact(before + secret + after, [secret], limit=limit)
    assert len(result) <= limit
    assert_no_piece_of(secret, result)


@settings(max_examples=200, deadline=None)
@given(secret=secrets, keep=st.integers(min_value=FRAGMENT_LENGTH, max_value=60), before=around)
def test_a_secret_the_crm_cut_short_is_still_redacted(secret, keep, before):
    echoed = secret[:keep]
    assume(len(echoed) >= FRAGMENT_LENGTH)
    assert_no_piece_of(echoed, redact(before + echoed, [secret]))


def _secret_dependent_part(blob_of) -> str:
    """The characters of an encoded blob that change when the secret's bytes change (found, not computed)."""
    one, other = blob_of(False), blob_of(True)
    differing = [index for index, (a, b) in enumerate(zip(one, other, strict=True)) if a != b]
    return one[differing[0] : differing[-1] + 1]


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(max_codepoint=127), min_size=12, max_size=60),
    client_id=st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), max_size=20),
    urlsafe=st.booleans(),
)
def test_a_secret_inside_a_basic_auth_header_is_redacted_at_any_alignment(secret, client_id, urlsafe):
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode

    def blob(flipped: bool) -> str:
        raw = bytes(byte ^ 0x7F for byte in secret.encode()) if flipped else secret.encode()
        return encode(f"{client_id}:".encode() + raw).decode()

    core = _secret_dependent_part(blob)
    result = redact(f"Authorization: Basic {blob(False)}", [secret])
    assert_no_piece_of(core, result)


def test_without_explicit_secrets_the_remembered_ones_are_used():
    forget_remembered_secrets()
    token = "tok_live_0123456789abcdef"
    assert redact(f"boom {token}") == f"boom {token}"
    remember_secrets([token])
    try:
        assert redact(f"boom {token}") == f"boom {PLACEHOLDER}"
    finally:
        forget_remembered_secrets()


def test_ordinary_text_is_left_alone():
    assert redact("reapit answered 422: email is invalid", ["s3cr3t-value-1234"]) == (
        "reapit answered 422: email is invalid"
    )
