"""The run-start and queue options of a function config: idempotency, rateLimit, throttle, singleton, priority and
timeouts, validated at sync (`check`) and read back from `Function.config` when a run starts (`gates_of`).

Rules followed (inngest/inngest):
- `idempotency` is a rate limit of 1 per 24 h keyed on its expression, and replaces any `rateLimit`
  (pkg/sdk/function.go `SDKFunction.Function`; consts.FunctionIdempotencyPeriod).
- a rate limit needs `limit` > 0 and a `period` of at most 24 h (pkg/inngest/function.go `RateLimit.IsValid`).
- a throttle's `limit` 0 is 1; a missing `burst` is 0 (pkg/inngest/function.go `Throttle.UnmarshalJSON`).
- a priority factor is clamped to -600..600 seconds, the documented range ("An expression which must return an
  integer between -600 and 600"; the open-source executor clamps with consts.PriorityFactorMin/Max).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .expressions import check as check_expression
from .protocol import ProtocolError, config_duration, parse_duration

OPTIONS = ("idempotency", "rateLimit", "throttle", "singleton", "priority", "timeouts")
IDEMPOTENCY_PERIOD = timedelta(hours=24)
MAX_RATE_LIMIT_PERIOD = timedelta(hours=24)
PRIORITY_MIN, PRIORITY_MAX = -600, 600


@dataclass(frozen=True)
class Limit:
    """A rate limit or throttle: `limit` per `period`, with a GCRA burst; `key` is a CEL expression or None."""

    limit: int
    period: timedelta
    burst: int
    key: str | None


@dataclass(frozen=True)
class Gates:
    rate_limit: Limit | None = None
    idempotent: bool = False  # the rate limit is the idempotency key's
    throttle: Limit | None = None
    singleton_mode: str | None = None  # "skip" or "cancel"
    singleton_key: str | None = None
    priority_run: str | None = None
    start_timeout: timedelta | None = None
    finish_timeout: timedelta | None = None


def _present(config: dict[str, Any], option: str) -> bool:
    return config.get(option) not in (None, [], {}, "")


def gates_of(config: dict[str, Any]) -> Gates | None:
    """The options of an already validated config; None when it has none (the common, cheap case)."""
    if not any(_present(config, option) for option in OPTIONS):
        return None
    rate_limit, idempotent = None, False
    if _present(config, "idempotency"):
        rate_limit, idempotent = Limit(1, IDEMPOTENCY_PERIOD, 0, config["idempotency"]), True
    elif _present(config, "rateLimit"):
        entry = config["rateLimit"]
        # Inngest's rate limiter allows a burst of a tenth of the limit (ratelimit_lua.go `RateLimit`).
        rate_limit = Limit(entry["limit"], parse_duration(entry["period"]), entry["limit"] // 10, entry.get("key"))
    throttle = throttle_of(config) if _present(config, "throttle") else None
    singleton = config.get("singleton") or {}
    priority = config.get("priority") or {}
    timeouts = config.get("timeouts") or {}
    return Gates(
        rate_limit=rate_limit,
        idempotent=idempotent,
        throttle=throttle,
        singleton_mode=singleton.get("mode"),
        singleton_key=singleton.get("key") or None,
        priority_run=priority.get("run") or None,
        start_timeout=parse_duration(timeouts["start"]) if timeouts.get("start") else None,
        finish_timeout=parse_duration(timeouts["finish"]) if timeouts.get("finish") else None,
    )


def throttle_of(config: dict[str, Any]) -> Limit:
    """The throttle of a validated config that has one (applied when a run's first request is claimed, throttle.py)."""
    entry = config["throttle"]
    return Limit(
        max(entry.get("limit") or 0, 1), parse_duration(entry["period"]), entry.get("burst") or 0, entry.get("key")
    )


def check(config: dict[str, Any]) -> None:
    """Raise ProtocolError saying what is wrong. Every option combines with every other, as on Inngest (throttle
    included: it is taken when a run's first request is claimed, with concurrency, as Inngest takes it)."""
    if _present(config, "idempotency"):
        if not isinstance(config["idempotency"], str):
            raise ProtocolError("`idempotency` must be a CEL expression (a string)")
        check_expression(config["idempotency"], what="idempotency key")
    if _present(config, "rateLimit"):
        entry = _object(config["rateLimit"], "rateLimit")
        _positive_int(entry.get("limit"), "rateLimit `limit`")
        if _duration(entry.get("period"), "rateLimit `period`") > MAX_RATE_LIMIT_PERIOD:
            raise ProtocolError("rateLimit `period` must be at most 24h (Inngest's limit)")
        _key(entry, "rateLimit `key`")
    if _present(config, "throttle"):
        entry = _object(config["throttle"], "throttle")
        limit, burst = entry.get("limit") or 0, entry.get("burst") or 0
        for value, what in ((limit, "throttle `limit`"), (burst, "throttle `burst`")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ProtocolError(f"{what} must be a non-negative integer")
        _duration(entry.get("period"), "throttle `period`")
        _key(entry, "throttle `key`")
    if _present(config, "singleton"):
        entry = _object(config["singleton"], "singleton")
        if entry.get("mode") not in ("skip", "cancel"):
            raise ProtocolError("singleton `mode` must be 'skip' or 'cancel'")
        _key(entry, "singleton `key`")
    if _present(config, "priority"):
        entry = _object(config["priority"], "priority")
        if entry.get("run") not in (None, ""):
            check_expression(entry["run"], what="priority `run`")
    if _present(config, "timeouts"):
        entry = _object(config["timeouts"], "timeouts")
        for name in ("start", "finish"):
            if entry.get(name) not in (None, ""):
                _duration(entry[name], f"timeouts `{name}`")


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"`{what}` must be an object")
    return value


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProtocolError(f"{what} must be a positive integer")
    return value


def _duration(value: object, what: str) -> timedelta:
    duration = config_duration(value, what=what)
    if duration <= timedelta(0):
        raise ProtocolError(f"{what} must be longer than zero")
    return duration


def _key(entry: dict[str, Any], what: str) -> None:
    if entry.get("key") not in (None, ""):
        if not isinstance(entry["key"], str):
            raise ProtocolError(f"{what} must be a CEL expression (a string)")
        check_expression(entry["key"], what=what)
