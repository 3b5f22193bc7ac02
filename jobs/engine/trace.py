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
    columns = (
        "run_id, span_id, step_id, step_name, op, attempt, status, http_status, started_at, ended_at, output, error,"
        " wake_at, retry_at"
    )
    row = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)"
    values: list[Any] = []
    for span in spans:
        values += [
            run_pk,
            str(ULID()),
            span.step_id[:64],
            span.step_name[:255],
            span.op[:30],
            span.attempt,
            span.status,
            span.http_status,
            span.started_at,
            span.ended_at,
            None if span.output is None else json.dumps(span.output),
            None if span.error is None else json.dumps(span.error),
            span.wake_at,
            span.retry_at,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO engine_runspan ({columns}) VALUES {', '.join([row] * len(spans))}",  # noqa: S608
            values,
        )
