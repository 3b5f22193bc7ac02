"""Validated emission: validate, record in the EventLog, send to Inngest after the surrounding commit.

A malformed payload raises `EventRejected` naming every bad field, is recorded as `rejected`, and is never sent;
so is an event larger than Inngest takes (`EVENTS_MAX_BYTES`). An event the event API refuses when sent (a 400, 413
or 422 naming it) is set aside as `rejected` with the API's answer, and the others in its batch are sent: one such
event never holds up the outbox.
The EventLog is also the outbox: the send after commit waits on Inngest at most `EVENTS_SEND_TIMEOUT` in all
(jobs/outbox.py); what is not accepted stays `pending` with the error and the relay (`manage.py relay_events`) or
`manage.py events resend` sends it later; each event carries a stable `id`, so a resend never starts a second run.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import inngest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError

from nurturehub.db import copy_insert
from tenants.models import Tenant

from .client import sending_client
from .events import Event, event_type
from .models import EventLog
from .outbox import EventsNotAccepted, post_events

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

# Inngest's event API limits: 5,000 events and 512 KB per request (we keep a margin for the envelope).
MAX_EVENTS_PER_REQUEST = 5000
MAX_BYTES_PER_REQUEST = 500_000


class EventRejected(ValueError):
    """An event payload failed validation; nothing was sent."""

    def __init__(self, name: str, errors: Sequence[Mapping[str, Any]]) -> None:
        self.name = name
        self.errors = list(errors)
        details = "; ".join(_describe(error) for error in self.errors)
        super().__init__(f"{name} rejected: {details}")


def _describe(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ())) or "(payload)"
    prefix = f"[{error['index']}] " if "index" in error else ""
    return f"{prefix}{location}: {error.get('msg', 'invalid')}"


def new_event_id() -> str:
    """A unique id Inngest de-duplicates on (any string works; a UUID is unique without coordination)."""
    return str(uuid.uuid4())


def emit(
    event_cls: type[E],
    data: Mapping[str, Any] | E,
    *,
    event_id: str | None = None,
    source: str = "",
) -> EventLog:
    """Validate and emit one event; returns its EventLog row (status `sent`, or `pending` with `last_error`).

    Inside a transaction the event is sent when it commits and never if it rolls back. Passing `event_id`
    makes the call idempotent: a second call with the same id returns the first row and sends nothing new.
    """
    return emit_many(event_cls, [data], event_ids=[event_id] if event_id else None, source=source)[0]


def emit_many(
    event_cls: type[E],
    items: Iterable[Mapping[str, Any] | E],
    *,
    event_ids: Sequence[str] | None = None,
    source: str = "",
) -> list[EventLog]:
    """Validate every item first; if any is malformed, record each bad one as rejected and send none."""
    items = list(items)
    if event_ids is not None and len(event_ids) != len(items):
        raise ValueError("event_ids must have one id per item")
    events = _validate(event_cls, items, source=source)
    if event_ids is not None:
        rows = _store(event_cls.name, events, list(event_ids), source=source)
    else:  # fresh ids cannot collide with stored ones: no look-up needed
        rows = _store(event_cls.name, events, [new_event_id() for _ in events], source=source, fresh=True)
    deliverable = [row for row in rows if row.status == EventLog.Status.PENDING]
    if deliverable:
        transaction.on_commit(lambda: deliver(deliverable))
    return rows


def emit_raw(name: str, data: Mapping[str, Any], *, source: str = "") -> EventLog:
    """Emit by name with a raw JSON payload (operations' `events send`, replays); unknown names are rejected."""
    try:
        cls = event_type(name)
    except KeyError as error:
        _record_rejections(name, [(data, [{"loc": ["name"], "msg": error.args[0], "type": "unknown_event"}])], source)
        raise EventRejected(name, [{"loc": ["name"], "msg": error.args[0]}]) from None
    return emit(cls, data, source=source)


def _validate(event_cls: type[E], items: list[Mapping[str, Any] | E], *, source: str) -> list[E]:
    events: list[E] = []
    failures: list[tuple[int, object, list[dict[str, Any]]]] = []
    for index, item in enumerate(items):
        if isinstance(item, event_cls):
            events.append(item)
            continue
        try:
            events.append(event_cls.model_validate(item))
        except ValidationError as error:
            errors = error.errors(include_url=False, include_context=False, include_input=False)
            failures.append((index, item, [_wire_location(event_cls, e) for e in errors]))
    if not failures:
        failures = _too_large(event_cls.name, events) or _unknown_tenants(events)
    if failures:
        _record_rejections(event_cls.name, [(item, errors) for _, item, errors in failures], source)
        batch = len(items) > 1
        raise EventRejected(
            event_cls.name,
            [{**error, "index": index} if batch else error for index, _, errors in failures for error in errors],
        )
    return events


def _wire_location(event_cls: type[Event], error: Mapping[str, Any]) -> dict[str, Any]:
    """Errors name fields as they travel (camelCase), whichever spelling the caller used."""
    location = list(error.get("loc", ()))
    field = event_cls.model_fields.get(location[0]) if location and isinstance(location[0], str) else None
    if field is not None and field.alias:
        location[0] = field.alias
    return {"loc": location, "msg": error["msg"], "type": error["type"]}


# The envelope around the payload: "name", "data", a 36-character "id", "ts" and "v" (bytes, with a margin).
_ENVELOPE_BYTES = 120


def _too_large(name: str, events: list[E]) -> list[tuple[int, object, list[dict[str, Any]]]]:
    """Events Inngest would refuse for their size: its limit per event is 256 KiB on the free plan and 3 MiB on
    the others (its usage limits page); EVENTS_MAX_BYTES says which applies. Refused when sent, such an event would
    stay pending for ever; so it is rejected here, with the size in the error."""
    limit = settings.EVENTS_MAX_BYTES
    failures = []
    for index, event in enumerate(events):
        size = len(event.model_dump_json(by_alias=True)) + len(name) + _ENVELOPE_BYTES
        if size > limit:
            message = f"the event is {size} bytes; Inngest takes at most {limit} (EVENTS_MAX_BYTES is {limit})"
            failures.append((index, event, [{"loc": [], "msg": message, "type": "event_too_large"}]))
    return failures


def _unknown_tenants(events: list[E]) -> list[tuple[int, object, list[dict[str, Any]]]]:
    wanted = {event.tenant_id for event in events}
    known = set(Tenant.objects.filter(id__in=wanted).order_by().values_list("id", flat=True))  # a set: no sort
    return [
        (index, event, [{"loc": ["tenantId"], "msg": f"unknown tenant {event.tenant_id}", "type": "unknown_tenant"}])
        for index, event in enumerate(events)
        if event.tenant_id not in known
    ]


def _record_rejections(name: str, failures: list[tuple[object, list[dict[str, Any]]]], source: str) -> None:
    EventLog.objects.bulk_create(
        EventLog(
            name=name[:256],
            status=EventLog.Status.REJECTED,
            payload=_json_safe(item),
            errors=errors,
            source=source,
        )
        for item, errors in failures
    )
    for _, errors in failures:
        logger.warning("event rejected", extra={"event": name, "errors": errors})


def _json_safe(item: object) -> object:
    """The rejected payload as PostgreSQL's JSON accepts it, so that the rejection itself is always recorded."""
    if isinstance(item, Event):
        return item.to_wire()
    try:
        # NaN and Infinity are not JSON (kept as their names); PostgreSQL's JSON refuses NUL characters.
        text = json.dumps(item, default=str).replace("\\u0000", "\\ufffd")
        return json.loads(text, parse_constant=str)
    except (TypeError, ValueError):
        return {"unserializable": repr(item)[:2000]}


def _store(name: str, events: list[E], ids: list[str], *, source: str, fresh: bool = False) -> list[EventLog]:
    existing = {} if fresh else {row.event_id: row for row in EventLog.objects.filter(event_id__in=ids)}
    new_rows = [
        EventLog(
            event_id=event_id,
            name=name,
            tenant_id=event.tenant_id,
            payload=event.to_wire(),
            version=event.version,
            status=EventLog.Status.PENDING,
            source=source,
        )
        for event, event_id in zip(events, ids, strict=True)
        if event_id not in existing
    ]
    _insert(new_rows)
    created = {row.event_id: row for row in new_rows}
    return [existing.get(event_id) or created[event_id] for event_id in ids]


# Above this many rows, COPY replaces bulk_create: one INSERT binding every value costs more than the database's
# own work at thousands of rows (bench/emit.py shows the difference).
COPY_THRESHOLD = 200


def _insert(rows: list[EventLog]) -> None:
    if len(rows) < COPY_THRESHOLD:
        EventLog.objects.bulk_create(rows)
        return
    copy_insert(EventLog, rows, allocate_ids=True)
    for row in rows:
        row._state.adding = False


def _update_rows(rows: Sequence[EventLog], assignments: str, params: list[object]) -> None:
    """UPDATE by primary key with one array parameter (`pk__in` would bind one parameter per row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {EventLog._meta.db_table} SET {assignments} WHERE id = ANY(%s)",  # noqa: S608 (fixed SQL)
            [*params, [row.pk for row in rows]],
        )


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0  # not accepted: kept pending
    refused: int = 0  # refused by the event API for their content: set aside as rejected

    def __add__(self, other: DeliveryResult) -> DeliveryResult:
        return DeliveryResult(self.sent + other.sent, self.failed + other.failed, self.refused + other.refused)


def deliver(rows: Sequence[EventLog], *, budget: float | None = None) -> DeliveryResult:
    """Send pending rows to Inngest in batches within its limits; mark each `sent`, or keep it `pending`.

    Waits on Inngest `budget` seconds at most in all (EVENTS_SEND_TIMEOUT by default, what a request may wait);
    batches left when it is spent stay `pending`, untried, for the relay.
    """
    client = sending_client()
    deadline = time.monotonic() + (settings.EVENTS_SEND_TIMEOUT if budget is None else budget)
    result = DeliveryResult()
    for batch in _batches(rows):
        result += _send(client, batch, deadline)
    return result


def _send(client: inngest.Inngest, batch: list[EventLog], deadline: float) -> DeliveryResult:
    """Send one batch; if the event API refuses its content, halve it until the refused events are alone, and set
    those aside, so that the rest is sent (events it took before refusing are resent with their ids: de-duplicated)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return DeliveryResult(failed=len(batch))
    try:
        post_events(client, [_envelope(row) for row in batch], timeout=remaining)
    except EventsNotAccepted as error:
        if not error.refused:  # unanswered, unreachable, an outage or a key problem: all stay pending
            _mark_failed(batch, error)
            return DeliveryResult(failed=len(batch))
        if len(batch) == 1:
            _mark_refused(batch[0], error)
            return DeliveryResult(refused=1)
        half = len(batch) // 2
        return _send(client, batch[:half], deadline) + _send(client, batch[half:], deadline)
    _mark_sent(batch)
    return DeliveryResult(sent=len(batch))


class _VersionedEvent(inngest.Event):
    """The SDK's Event has no field for the envelope's `v` (Inngest's pkg/event: `Version string json:"v"`)."""

    v: str | None = None


def _envelope(row: EventLog) -> inngest.Event:
    return _VersionedEvent.model_construct(
        name=row.name, data=row.payload, id=row.event_id, ts=int(row.created_at.timestamp() * 1000), v=str(row.version)
    )


def _batches(rows: Sequence[EventLog]) -> Iterable[list[EventLog]]:
    batch: list[EventLog] = []
    size = 0
    for row in rows:
        row_size = len(json.dumps(row.payload)) + len(row.name) + 80  # id, ts and the JSON envelope
        if batch and (len(batch) >= MAX_EVENTS_PER_REQUEST or size + row_size > MAX_BYTES_PER_REQUEST):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


def _mark_sent(batch: list[EventLog]) -> None:
    now = timezone.now()
    _update_rows(
        batch,
        "status = %s, sent_at = %s, last_error = '', send_attempts = send_attempts + 1",
        [EventLog.Status.SENT, now],
    )
    for row in batch:
        row.status, row.sent_at, row.last_error = EventLog.Status.SENT, now, ""
        row.send_attempts += 1


def _mark_failed(batch: list[EventLog], error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"[:2000]
    _update_rows(batch, "last_error = %s, send_attempts = send_attempts + 1", [message])
    for row in batch:
        row.last_error = message
        row.send_attempts += 1
    logger.warning(
        "events not sent; kept pending for the relay",
        extra={"events": len(batch), "event": batch[0].name, "error": message},
    )


def _mark_refused(row: EventLog, error: EventsNotAccepted) -> None:
    message = f"refused by the event API: {error}"[:2000]
    row.status, row.last_error, row.send_attempts = EventLog.Status.REJECTED, message, row.send_attempts + 1
    row.errors = [{"loc": [], "msg": message, "type": "refused_by_event_api"}]
    row.save(update_fields=["status", "last_error", "send_attempts", "errors"])
    logger.error(
        "event refused by the event API; set aside as rejected, the others are sent",
        extra={"event": row.name, "event_id": row.event_id, "error": message},
    )


def events_resend(*, batch_size: int = 1000) -> DeliveryResult:
    """Send every pending event once, oldest first; rows locked by another resend are skipped."""
    total = DeliveryResult()
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                EventLog.objects.select_for_update(skip_locked=True)
                .filter(status=EventLog.Status.PENDING, id__gt=last_id)
                .order_by("id")[:batch_size]
            )
            if not rows:
                return total
            last_id = rows[-1].id
            result = deliver(rows)
        total.sent += result.sent
        total.failed += result.failed
