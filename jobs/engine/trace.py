"""The run trace: one span per request to the SDK and per op of its answer (written inside the answer's transaction).

Kept apart from the state machine in services/answers.py: spans only record what happened, nothing reads them to decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from ulid import ULID

from .queries import statement

_SPANS_INSERT_SQL = statement("spans_insert")


@dataclass
class Span:
    """A span to store; `output` / `error` are what the SDK sent, unchanged."""

    step_id: str
    step_name: str
    op: str
    attempt: int
    status: str
    http_status: int | None
    started_at: datetime
    ended_at: datetime
    output: Any = None
    error: Any = None
    wake_at: datetime | None = None
    retry_at: datetime | None = None


def spans_insert(run_pk: int, spans: list[Span]) -> None:
    """Insert spans in one statement (this is on the hot path: every answer writes at least one)."""
    if not spans:
        return
    with connection.cursor() as cursor:
        cursor.execute(_SPANS_INSERT_SQL, {"run": run_pk, "spans": spans_json(spans)})


def spans_json(spans: list[Span]) -> str:
    """The spans as the JSON array spans_insert (and step_run_inline_done) read into RunSpan rows, in order."""
    rows = [
        {
            "span_id": str(ULID()),
            "step_id": span.step_id[:64],
            "step_name": span.step_name[:255],
            "op": span.op[:30],
            "attempt": span.attempt,
            "status": span.status,
            "http_status": span.http_status,
            "started_at": span.started_at.isoformat(),
            "ended_at": span.ended_at.isoformat(),
            "wake_at": None if span.wake_at is None else span.wake_at.isoformat(),
            "retry_at": None if span.retry_at is None else span.retry_at.isoformat(),
        }
        for span in spans
    ]
    for row, span in zip(rows, spans, strict=True):
        # Left out when None: the column is then SQL NULL, as before (the statement fills each row from the keys
        # present), never a jsonb `null` value.
        if span.output is not None:
            row["output"] = span.output
        if span.error is not None:
            row["error"] = span.error
    return json.dumps(rows)
