"""The run ledger (JobRun / StepAttempt) fed by the local engine: one source of each run's record.

Which writer keeps the ledger is chosen once, by `JOBS_LEDGER_SOURCE`:
- "engine" (the default when the local engine is enabled): the engine tells this module, through the listener the
  app registers with it (`apps.get_app_config("engine").ledger_listener`, from jobs/apps.py: the app never imports
  the engine), what happened to each run, inside the transaction of the engine's own change: the run's start, each
  applied answer's step attempts and status, its end and a cancel. The ledger is then exactly as durable as the
  engine's records, and the step requests themselves write nothing (`RunTrackingMiddleware` stands aside).
- "sdk" (Inngest Cloud, self-hosted Inngest): the SDK middleware in jobs/tracking.py writes it from the requests.
  A step request that does not come from the local engine (no fence header) is tracked by the middleware
  whichever the setting says, so another executor pointed at this app is never left untracked.

Why the middleware on Cloud rather than a tracker function on `inngest/function.finished` / `.failed`: a tracker
sees a run only when it ends (no `running` / `retrying`, no attempts, no retry times), so the middleware would still
write those, and the tracker would replace only the completion's statement, at the price of a whole run per run
tracked: bench/ledger_cost.py measured 4.4 ms of CPU per run for it against about 3 ms for the statement it saves.

Each change is at most one statement: the runs started together are inserted in one (tenant and event log row
joined in SQL), and an answer's attempts, its run's status and attempt count go in one more (data-modifying CTEs),
which also returns what the OpenTelemetry spans need (jobs/traces.py), sent when the transaction commits.
The rows are the ones the middleware writes: the same statuses, step ids and names, attempts, errors (the cause
first, redacted), tracebacks, retry and wake times, queue wait, tenant, event log link and output.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from nurturehub.redaction import redact

from . import traces
from .causes import error_type_of
from .models import EventLog, JobRun, StepAttempt

ENGINE, SDK = "engine", "sdk"
FUNCTION_FAILED_EVENT = "inngest/function.failed"
FUNCTION_BODY_STEP = "(function)"
TERMINAL = (JobRun.Status.COMPLETED, JobRun.Status.FAILED, JobRun.Status.CANCELLED)
MAX_TEXT = 20_000

_STEP_NAMES = {"step": "step.run", "sleep": "sleep", "function": "function"}


def local_function_id(app_id: str, fully_qualified_id: str) -> str:
    """`nurturehub-contact-category-assigned` -> `contact-category-assigned` (what operators know it by)."""
    prefix = f"{app_id}-"
    return fully_qualified_id[len(prefix) :] if fully_qualified_id.startswith(prefix) else fully_qualified_id


@dataclass(frozen=True)
class Step:
    """One step attempt, as either source reports it (the engine's hooks.LedgerStep has the same fields)."""

    step: str  # the step's id; "" for the function body
    kind: str  # "step", "sleep" or "function"
    attempt: int  # from 1
    outcome: str  # "completed", "failed" (retried at `next_at`) or "exhausted"
    started_at: datetime
    ended_at: datetime
    error: Any = None  # {name, message, stack}, as the SDK sends it
    next_at: datetime | None = None  # the retry's time, or a sleep's wake time


@dataclass(frozen=True)
class Change:
    """What happened to one run (the engine's hooks.LedgerChange has the same fields): the one interface both
    sources write through."""

    run_id: str
    function: str  # `<app id>-<function id>`
    event: dict[str, Any]  # name, id, data, ts
    at: datetime
    started: bool = False
    status: str = ""  # "" unchanged, else running, retrying, completed, failed, cancelled
    output: Any = None
    error: Any = None
    first_request_at: datetime | None = None
    steps: tuple[Step, ...] = ()


def write(change: Change, *, first_request: bool) -> None:
    """The SDK middleware's write (source "sdk"): one statement per request, one more for a run's first request
    (its row). A run whose row is missing (its first request was never recorded) gets it then."""
    if first_request:
        _runs_insert([change])
    if not _change_apply(change) and not first_request:
        _runs_insert([change])
        _change_apply(change)


def engine_feeds() -> bool:
    """Whether the local engine writes the ledger (so the middleware does not, for the engine's requests)."""
    return settings.JOBS_LEDGER_SOURCE == ENGINE


def record(changes: list[Any]) -> None:
    """The engine's listener: write what happened to this app's runs (hooks.LedgerChange values)."""
    if not engine_feeds():
        return
    prefix = f"{settings.INNGEST_APP_ID}-"
    ours = [
        change
        for change in changes
        if change.function.startswith(prefix) and change.event.get("name") != FUNCTION_FAILED_EVENT
    ]
    started = [change for change in ours if change.started]
    if started:
        _runs_insert(started)
    for change in ours:
        if change.steps or change.status or change.first_request_at is not None:
            _change_apply(change)


# --- A run's start ----------------------------------------------------------------------------------------

_RUNS_INSERT_SQL = """
INSERT INTO {run} (run_id, function_id, tenant_id, event_name, event_id, event_log_id, status, attempts, error_type,
                   started_at, updated_at)
SELECT r.run_id, r.function_id, t.id, r.event_name, r.event_id,
       (SELECT e.id FROM {event_log} e WHERE r.event_id <> '' AND e.event_id = r.event_id), 'running', 0, '',
       r.started_at, r.started_at
FROM jsonb_to_recordset(%s::jsonb) AS r(run_id text, function_id text, tenant uuid, event_name text, event_id text,
                                        started_at timestamptz)
LEFT JOIN {tenant} t ON t.id = r.tenant
ON CONFLICT (run_id) DO NOTHING
"""


def _tenant_of(data: Any) -> str | None:
    value = data.get("tenantId") if isinstance(data, dict) else None
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:  # a malformed id is no tenant (the run is still recorded)
        return None


def _runs_insert(changes: list[Any]) -> None:
    rows = [
        {
            "run_id": change.run_id,
            "function_id": local_function_id(settings.INNGEST_APP_ID, change.function)[:200],
            "tenant": _tenant_of(change.event.get("data")),
            "event_name": str(change.event.get("name") or "")[:256],
            "event_id": str(change.event.get("id") or "")[:64],
            "started_at": change.at.isoformat(),
        }
        for change in changes
    ]
    from tenants.models import Tenant

    sql = _RUNS_INSERT_SQL.format(
        run=JobRun._meta.db_table, event_log=EventLog._meta.db_table, tenant=Tenant._meta.db_table
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows)])


# --- Step attempts and the run's status ------------------------------------------------------------------

# One statement: the run (as it was), the attempts upserted, the run moved on under the same rules as the
# middleware's run_mark (a finished run never goes back; a cancelled one never completes or fails), and `attempts`
# counted from the rows (the failed attempts that were retried), the statement's own rows included.
_CHANGE_SQL = """
WITH r AS (SELECT id, status, function_id, tenant_id, started_at FROM {run} WHERE run_id = %(run_id)s::text),
new AS (
  SELECT * FROM jsonb_to_recordset(%(steps)s::jsonb) AS s(step_id text, step_name text, attempt int, status text,
         duration_ms int, error text, traceback text, next_retry_at timestamptz, started_at timestamptz)
),
ins AS (
  INSERT INTO {attempt} (run_id, step_id, step_name, attempt, status, duration_ms, error, traceback, next_retry_at,
                         started_at)
  SELECT r.id, new.step_id, new.step_name, new.attempt, new.status, new.duration_ms, new.error, new.traceback,
         new.next_retry_at, new.started_at
  FROM r, new
  ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET
    status = EXCLUDED.status, duration_ms = EXCLUDED.duration_ms, error = EXCLUDED.error,
    traceback = EXCLUDED.traceback, next_retry_at = EXCLUDED.next_retry_at, step_name = EXCLUDED.step_name
  RETURNING 1
),
upd AS (
  UPDATE {run} j SET
    status = COALESCE(%(status)s::text, j.status),
    attempts = CASE WHEN %(count)s::boolean THEN
        (SELECT count(*) FROM {attempt} a WHERE a.run_id = j.id AND a.status = 'failed'
           AND NOT EXISTS (SELECT 1 FROM new WHERE new.step_id = a.step_id AND new.attempt = a.attempt))
        + (SELECT count(*) FROM new WHERE new.status = 'failed')
      ELSE j.attempts END,
    output = CASE WHEN %(status)s::text = 'completed' THEN %(output)s::jsonb ELSE j.output END,
    error = CASE WHEN %(status)s::text = 'completed' THEN NULL
                 WHEN %(error)s::jsonb IS NOT NULL THEN %(error)s::jsonb ELSE j.error END,
    error_type = CASE WHEN %(status)s::text = 'completed' THEN ''
                      ELSE COALESCE(%(error_type)s::text, j.error_type) END,
    finished_at = CASE WHEN %(status)s::text IN ('completed', 'failed', 'cancelled') THEN %(at)s::timestamptz
                       ELSE j.finished_at END,
    queue_wait_ms = COALESCE(j.queue_wait_ms, %(queue_wait_ms)s::bigint),
    started_at = CASE WHEN j.queue_wait_ms IS NULL AND %(first_at)s::timestamptz IS NOT NULL
                      THEN %(first_at)s::timestamptz ELSE j.started_at END,
    updated_at = %(at)s::timestamptz
  FROM r
  WHERE j.id = r.id AND (%(status)s::text IS NOT NULL OR %(queue_wait_ms)s::bigint IS NOT NULL)
    AND CASE
      WHEN %(status)s::text IS NULL THEN true
      WHEN %(status)s::text = 'failed' THEN r.status NOT IN ('completed', 'cancelled')
      WHEN %(status)s::text = 'completed' THEN r.status <> 'cancelled'
      ELSE r.status NOT IN ('completed', 'failed', 'cancelled')
        AND (r.status <> %(status)s::text OR %(count)s::boolean OR %(queue_wait_ms)s::bigint IS NOT NULL)
    END
  RETURNING j.id
)
SELECT r.status, r.function_id, r.tenant_id, r.started_at, (SELECT count(*) FROM upd), (SELECT count(*) FROM ins)
FROM r
"""


@dataclass
class _RunSeen:
    """What the spans of a recorded change need of the run (jobs/traces.py reads these attributes)."""

    run_id: str
    function_id: str
    tenant_id: Any
    started_at: datetime


def _describe(error: Any) -> tuple[str, str, str]:
    """(error type, one-line message, traceback) of the SDK's error body, as describe_error gives them."""
    body = error if isinstance(error, dict) else {"message": str(error or "")}
    name, message = str(body.get("name") or "Error"), str(body.get("message") or "")
    error_type = error_type_of(name, message)
    text = message if message.startswith(f"{error_type}: ") else f"{error_type}: {message}"
    return error_type, redact(text, limit=MAX_TEXT), redact(str(body.get("stack") or ""), limit=MAX_TEXT)


def _attempt_row(step: Any) -> dict[str, Any]:
    failed = step.outcome in ("failed", "exhausted")
    _, error, stack = _describe(step.error) if failed else ("", "", "")
    return {
        "step_id": (step.step or FUNCTION_BODY_STEP)[:200],
        "step_name": _STEP_NAMES.get(step.kind, "step.run"),
        "attempt": step.attempt,
        "status": step.outcome if step.kind != "sleep" else StepAttempt.Status.COMPLETED,
        "duration_ms": max(0, int((step.ended_at - step.started_at).total_seconds() * 1000)),
        "error": error if failed else "",
        "traceback": stack if failed else "",
        "next_retry_at": None if step.next_at is None or step.outcome == "exhausted" else step.next_at.isoformat(),
        "started_at": step.started_at.isoformat(),
    }


def _run_error(error: Any) -> tuple[dict[str, Any], str]:
    """The failed run's error as the `on_failure` recorder stores it (Inngest's failure event carries the same)."""
    body = error if isinstance(error, dict) else {"message": str(error or "")}
    message = str(body.get("message") or "")
    error_type = error_type_of(str(body.get("name") or "Error"), message)
    stack = body.get("stack")
    return {
        "name": error_type,
        "message": redact(message, limit=MAX_TEXT),
        "stack": redact(stack, limit=MAX_TEXT) if stack else stack,
    }, error_type[:200]


def _change_apply(change: Any) -> bool:
    """One statement for the change; False when the run has no row."""
    rows = [_attempt_row(step) for step in change.steps]
    error, error_type = _run_error(change.error) if change.status == JobRun.Status.FAILED else (None, None)
    if change.status == JobRun.Status.CANCELLED:
        error_type = None  # as the admin's cancel leaves it: the run's last error, if any, stays
    queue_wait_ms = None
    if change.first_request_at is not None:
        event_ts = change.event.get("ts")
        if isinstance(event_ts, int) and event_ts > 0:
            queue_wait_ms = max(0, int(change.first_request_at.timestamp() * 1000) - event_ts)
    params = {
        "run_id": change.run_id,
        "steps": json.dumps(rows),
        "status": change.status or None,
        "count": any(row["status"] == StepAttempt.Status.FAILED for row in rows)
        or change.status in (JobRun.Status.RETRYING, JobRun.Status.FAILED),
        "output": json.dumps(change.output) if change.status == JobRun.Status.COMPLETED else None,
        "error": json.dumps(error) if error is not None else None,
        "error_type": error_type,
        "at": change.at,
        "queue_wait_ms": queue_wait_ms,
        # The run "started" at its first step request, as operators knew it (its row exists from the engine's start).
        "first_at": change.first_request_at if queue_wait_ms is not None else None,
    }
    sql = _CHANGE_SQL.format(run=JobRun._meta.db_table, attempt=StepAttempt._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        return False  # no JobRun: a run started before the ledger was fed (or pruned); nothing to record against
    was, function_id, tenant_id, started_at, moved, _ = found
    seen = _RunSeen(run_id=change.run_id, function_id=function_id, tenant_id=tenant_id, started_at=started_at)
    ended = moved and change.status in TERMINAL and was not in TERMINAL
    if rows or ended:
        transaction.on_commit(lambda: _trace(seen, rows, change, ended=ended, error=error))
    return True


def _trace(seen: _RunSeen, rows: list[dict[str, Any]], change: Any, *, ended: bool, error: Any) -> None:
    """The change's OpenTelemetry spans (jobs/traces.py), once the rows they describe are committed."""
    for row in rows:
        traces.step_attempt(
            seen,
            StepAttempt(
                step_id=row["step_id"],
                attempt=row["attempt"],
                status=row["status"],
                started_at=datetime.fromisoformat(row["started_at"]),
                duration_ms=row["duration_ms"],
                error=row["error"],
                traceback=row["traceback"],
            ),
        )
    if ended:
        traces.run_finished(
            seen,
            outcome=change.status,
            finished_at=change.at,
            error=str(error.get("message") or "") if isinstance(error, dict) else "",
        )
