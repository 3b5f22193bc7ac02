"""Pure pieces of Inngest's protocol and semantics: ids, durations, delays, the small expression language.

No database and no HTTP here, so every rule can be read (and tested) on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jcs
from ulid import ULID

from .errors import ProtocolError
from .request_checks import check_value, read_json

# Inngest's limits (pkg/consts): event size, events per request, event name length. The dev server's intake
# (pkg/api/api.go, eventstream.ParseStream) bounds each event of the array at AbsoluteMaxEventSize (3 MiB), not the
# request; the engine reads a request whole, so it also bounds the request (its own limit, not Inngest's).
MAX_EVENT_BYTES = 3 * 1024 * 1024
# The events the engine emits itself (Inngest's pkg/consts): an invoke's start, and the end of every run.
INVOKED_EVENT = "inngest/function.invoked"
FINISHED_EVENT = "inngest/function.finished"
MAX_EVENT_BODY_BYTES = 64 * 1024 * 1024
MAX_EVENTS_PER_REQUEST = 5000
MAX_EVENT_NAME_LENGTH = 512
MAX_EVENT_VERSION_LENGTH = 64  # ours: the column's width; Inngest sets no limit on `v`
MAX_RETRIES = 20
DEFAULT_RETRIES = 4
# Event timestamps must fall between 1980 and 2100 (pkg/event/inbound.go).
MIN_TS_MS = 315_532_800_000
MAX_TS_MS = 4_102_444_800_000
DEDUPE_WINDOW = timedelta(hours=24)
# A call request larger than this is sent without its events and memos; the SDK fetches them from
# /v0/runs/<id>/batch and /actions (pkg/consts MaxSDKRequestBodySize, pkg/execution/driver/driver.go MarshalV1).
MAX_SDK_REQUEST_BODY_BYTES = 4 * 1024 * 1024

# Inngest's backoff table (pkg/backoff): delay after the n-th failed attempt, plus 0-30 s of jitter.
BACKOFF_TABLE_SECONDS = (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)
BACKOFF_JITTER_SECONDS = 30
RETRY_AFTER_MIN = timedelta(seconds=1)
RETRY_AFTER_MAX = timedelta(hours=24)


# --- Event ids ------------------------------------------------------------------------------------------


def event_ids_from_seed(seed: str | None, count: int) -> list[str]:
    """ULIDs for a batch, derived from the SDK's `x-inngest-event-id-seed` so that a retried send gets the same ids.

    Like Inngest (pkg/event/id.go): the seed's milliseconds and 10 entropy bytes, with the event's 1-based index
    added to the entropy's last 4 bytes. Without a (valid) seed the ids are fresh.
    """
    parsed = _parse_seed(seed)
    if parsed is None:
        return [str(ULID()) for _ in range(count)]
    millis, entropy = parsed
    ids = []
    for index in range(1, count + 1):
        tail = (int.from_bytes(entropy[6:], "big") + index) % (1 << 32)
        raw = millis.to_bytes(6, "big") + entropy[:6] + tail.to_bytes(4, "big")
        ids.append(str(ULID.from_bytes(raw)))
    return ids


def _parse_seed(seed: str | None) -> tuple[int, bytes] | None:
    if not seed or "," not in seed:
        return None
    millis_text, entropy_text = seed.split(",", 1)
    try:
        millis = int(millis_text)
        entropy = base64.b64decode(entropy_text, validate=True)
    except ValueError:
        return None
    if len(entropy) != 10 or not 0 <= millis < (1 << 48):
        return None
    return millis, entropy


# --- Intake validation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingEvent:
    name: str
    data: dict[str, Any]
    ts: int
    external_id: str
    version: str = ""  # the envelope's `v` (Inngest's pkg/event: `Version string json:"v,omitempty"`)


def parse_event_batch(body: bytes, *, now_ms: int) -> list[IncomingEvent]:
    """Validate a `POST /e/<key>` body as a whole: any bad event rejects the batch (nothing is stored)."""
    if len(body) > MAX_EVENT_BODY_BYTES:
        raise ProtocolError(f"request body is {len(body)} bytes; the limit is {MAX_EVENT_BODY_BYTES} bytes (64 MiB)")
    payload = read_json(body, what="request body")
    if not isinstance(payload, list):
        raise ProtocolError(f"request body must be a JSON array of events, not {_json_type(payload)}")
    if not payload:
        raise ProtocolError("request body is an empty array: send at least one event")
    if len(payload) > MAX_EVENTS_PER_REQUEST:
        raise ProtocolError(f"{len(payload)} events in one request; the limit is {MAX_EVENTS_PER_REQUEST}")
    for index, item in enumerate(payload):
        check_value(item, where=f"event [{index}]")  # NUL, surrogates, NaN, out-of-range numbers, depth
    if len(body) > MAX_EVENT_BYTES:  # only then can one event be over the limit
        for index, item in enumerate(payload):
            size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
            if size > MAX_EVENT_BYTES:
                raise ProtocolError(
                    f"event [{index}] is {size} bytes; the limit is {MAX_EVENT_BYTES} bytes (3 MiB) per event"
                )
    return [_parse_event(item, index, now_ms=now_ms) for index, item in enumerate(payload)]


def _parse_event(item: object, index: int, *, now_ms: int) -> IncomingEvent:
    where = f"event [{index}]"
    if not isinstance(item, dict):
        raise ProtocolError(f"{where} must be a JSON object, not {_json_type(item)}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProtocolError(f"{where} needs a non-empty string `name`")
    if len(name) > MAX_EVENT_NAME_LENGTH:
        raise ProtocolError(f"{where}: name is longer than {MAX_EVENT_NAME_LENGTH} characters")
    if name.startswith("inngest/"):
        raise ProtocolError(f"{where}: {name!r} uses the reserved `inngest/` prefix (only Inngest sends those)")
    data = item.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: `data` must be a JSON object, not {_json_type(data)}")
    data = {key: value for key, value in data.items() if key != "_inngest"}
    ts = item.get("ts")
    if ts is None or ts == 0:
        ts = now_ms
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not MIN_TS_MS <= ts <= MAX_TS_MS:
        raise ProtocolError(f"{where}: `ts` must be milliseconds since the epoch between 1980 and 2100")
    external_id = item.get("id") or ""
    if not isinstance(external_id, str) or len(external_id) > 255:
        raise ProtocolError(f"{where}: `id` must be a string of at most 255 characters")
    version = item.get("v") or ""
    if not isinstance(version, str) or len(version) > MAX_EVENT_VERSION_LENGTH:
        raise ProtocolError(f"{where}: `v` must be a string of at most {MAX_EVENT_VERSION_LENGTH} characters")
    return IncomingEvent(name=name, data=data, ts=int(ts), external_id=external_id, version=version)


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


# --- Durations and delays -------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse Inngest's duration strings (`"10s"`, `"1h30m"`, `"2d"`)."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ProtocolError(f"{text!r} is not a duration like '10s', '5m', '1h30m' or '2d'")
    try:
        return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))
    except OverflowError:
        raise ProtocolError(f"{text[:40]!r} is longer than any duration the engine can hold") from None


def config_duration(value: object, *, what: str) -> timedelta:
    """A duration in a function config or an op (`"10s"`); the error names where it was (`what`)."""
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{what} must be a duration such as '10s' or '1h'")
    try:
        return parse_duration(value)
    except ProtocolError as error:
        raise ProtocolError(f"{what}: {error}") from None


def parse_sleep_until(name: str | None, opts: dict[str, Any] | None, *, now: datetime) -> datetime:
    """The wake time of a Sleep op: `name` holds an ISO time (Python SDK) or a duration (`opts.duration` first)."""
    duration = (opts or {}).get("duration")
    if isinstance(duration, str) and duration:
        return now + parse_duration(duration)
    if not name:
        raise ProtocolError("a Sleep op without a wake time")
    try:
        until = datetime.fromisoformat(name.replace("Z", "+00:00"))
    except ValueError:
        return now + parse_duration(name)
    return until if until.tzinfo else until.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A `retry-after` header as a delay: an ISO date or integer seconds, clamped to 1 s .. 24 h."""
    if not value:
        return None
    value = value.strip()
    delay: timedelta | None = None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        delay = timedelta(seconds=float(value))
    else:
        try:
            until = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        delay = (until if until.tzinfo else until.replace(tzinfo=UTC)) - now
    return min(max(delay, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def backoff_delay(failed_attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Inngest's table backoff after the 0-based `failed_attempt`, plus 0-30 s of jitter."""
    base = BACKOFF_TABLE_SECONDS[min(max(failed_attempt, 0), len(BACKOFF_TABLE_SECONDS) - 1)]
    jitter = (rng or random).uniform(0, BACKOFF_JITTER_SECONDS)
    return timedelta(seconds=base + jitter)


def parallel_mode(opts: object) -> str:
    """A step's parallel mode from its op's opts: "race" (the first to finish moves the run on) or "wait"."""
    return str(opts.get("parallelMode") or "wait") if isinstance(opts, dict) else "wait"


def scale_delay(delay: timedelta, scale: float) -> timedelta:
    """Shrink (or stretch) a delay for tests and demos; order is kept because every delay is scaled alike."""
    return timedelta(seconds=max(delay.total_seconds(), 0) * scale)


# --- Concurrency keys ----------------------------------------------------------------------------------


def concurrency_queue_key(*, scope: str, function_slug: str, value: str | None) -> str:
    """Inngest's virtual queue name `<f|e|a>:<scope id>:<value>`; long values are hashed to fit the column."""
    prefix = {"fn": f"f:{function_slug}", "env": "e:local", "account": "a:local"}[scope]
    if value is None:
        return prefix
    if len(prefix) + len(value) > 200:
        value = hashlib.sha256(value.encode()).hexdigest()
    return f"{prefix}:{value}"


def without_state_for_api(body: dict[str, Any]) -> dict[str, Any]:
    """The call body with `use_api` set and the events and memos left out (the SDK fetches them), as Inngest does.

    Inngest keeps `event` (the first event, for backwards compatibility) and empties `events` and `steps`.
    """
    return {**body, "events": [], "steps": {}, "use_api": True, "ctx": {**body["ctx"], "use_api": True}}


# --- Signing --------------------------------------------------------------------------------------------


def canonical_json(value: object) -> bytes:
    """RFC 8785 bytes: what Inngest signs and sends, and what the SDK re-canonicalises before verifying."""
    return jcs.canonicalize(value)


def _signing_key_bytes(signing_key: str) -> bytes:
    return re.sub(r"^signkey-\w+-", "", signing_key).encode()


def sign_body(body: bytes, signing_key: str, *, now: float | None = None) -> str:
    """`X-Inngest-Signature` for a request body: `t=<unix>&s=<hex HMAC-SHA256(key, body + t)>`."""
    stamp = str(int(now if now is not None else time.time()))
    digest = hmac.new(_signing_key_bytes(signing_key), body + stamp.encode(), hashlib.sha256).hexdigest()
    return f"t={stamp}&s={digest}"


def hashed_signing_key(signing_key: str) -> str:
    """What the SDK sends as `Authorization: Bearer ...`: sha256 of the key's hex bytes."""
    raw = re.sub(r"^signkey-\w+-", "", signing_key)
    try:
        return hashlib.sha256(bytes.fromhex(raw)).hexdigest()
    except ValueError:
        return hashlib.sha256(raw.encode()).hexdigest()


def backoff_attempt_ceiling(retries: int) -> int:
    """Clamp a function's retries to Inngest's 0..20."""
    return min(max(retries, 0), MAX_RETRIES)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_ms(value: datetime) -> int:
    return math.floor(value.timestamp() * 1000)
