"""Structured logging: one JSON object per line, with the run context (run id, function, step, attempt, tenant).

A function binds its run context once (`run_log_context`) and each shared step utility binds its step id
(`step_log_context`); every log record created meanwhile, by any logger, carries those fields and the formatter
writes them, so a line from deep inside an adapter can still be found by run id or tenant.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# The fields every line logged inside a run carries; unset fields are simply absent.
RUN_FIELDS = ("run_id", "function", "step", "attempt", "tenant")

_run_context: ContextVar[dict[str, Any] | None] = ContextVar("jobs_run_log_context", default=None)


def current_log_context() -> dict[str, Any]:
    """The run fields bound right now (empty outside a run)."""
    return dict(_run_context.get() or {})


@contextmanager
def bound_log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Add fields to the log context for the duration of the block (nested blocks add to, then restore, it)."""
    merged = {**(_run_context.get() or {}), **{key: value for key, value in fields.items() if value is not None}}
    token = _run_context.set(merged)
    try:
        yield merged
    finally:
        _run_context.reset(token)


@contextmanager
def run_log_context(ctx: Any, *, function: str, tenant: object | None) -> Iterator[dict[str, Any]]:
    """Bind a run's identity: every line logged inside the block names the run, function, attempt and tenant."""
    with bound_log_context(
        run_id=getattr(ctx, "run_id", None),
        function=function,
        attempt=getattr(ctx, "attempt", None),
        tenant=str(tenant) if tenant is not None else None,
    ) as fields:
        yield fields


@contextmanager
def step_log_context(step_id: str) -> Iterator[dict[str, Any]]:
    with bound_log_context(step=step_id) as fields:
        yield fields


def _stamp_run_context(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """Wrap the log record factory: each record carries the run fields bound when it was created.

    Stamping at creation (not at formatting) keeps the fields right when a handler formats later or in
    another thread (queue handlers, pytest's caplog), and works for every logger, ours or a library's.
    """

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        for key, value in (_run_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return record

    make_record._stamps_run_context = True  # type: ignore[attr-defined]
    return make_record


if not getattr(logging.getLogRecordFactory(), "_stamps_run_context", False):
    logging.setLogRecordFactory(_stamp_run_context(logging.getLogRecordFactory()))


class StructuredFormatter(logging.Formatter):
    """Formats a record as JSON; `extra={...}` keys become fields, so log lines can be searched by run or tenant."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
