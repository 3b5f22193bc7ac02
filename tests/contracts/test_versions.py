"""Event versions: `v` on the wire, upcasters from each older version, upcasting at replay and at a run's start
or resumption (`Event.from_inngest`), with a real breaking change in a scratch catalogue."""

from __future__ import annotations

import uuid
from typing import ClassVar

import inngest
import pytest
from django.db import transaction

from jobs.emit import emit
from jobs.events import Event, EventVersionError, NonEmptyStr, Timestamp
from jobs.models import EventLog
from jobs.replay import events_replay

NAME = "people/person.added"


def _version_1():
    class PersonAdded(Event):
        name: ClassVar[str] = NAME

        full_name: NonEmptyStr
        added_at: Timestamp

    return PersonAdded


def _split_full_name(payload: dict) -> dict:
    first, _, last = payload.pop("fullName").partition(" ")
    return {**payload, "firstName": first, "lastName": last or "-"}


def _version_2():
    """The breaking change: `fullName` removed, `firstName` and `lastName` required."""

    class PersonAdded(Event):
        name: ClassVar[str] = NAME
        version: ClassVar[int] = 2
        upcasters: ClassVar = {1: _split_full_name}

        first_name: NonEmptyStr
        last_name: NonEmptyStr
        added_at: Timestamp

    return PersonAdded


def _deploy(catalogue, cls_factory):
    catalogue.pop(NAME, None)
    return cls_factory()


@pytest.fixture
def stored_v1(scratch_catalogue, tenant):
    _deploy(scratch_catalogue, _version_1)
    payload = {"tenantId": str(tenant.id), "fullName": "Ada Lovelace", "addedAt": "2026-11-01T09:00:00Z"}
    return emit(scratch_catalogue[NAME], payload, source="test")


def test_a_replay_of_an_event_stored_under_an_older_version_works_after_a_breaking_change(scratch_catalogue, stored_v1):
    assert stored_v1.version == 1
    v2 = _deploy(scratch_catalogue, _version_2)
    with pytest.raises(Exception, match="firstName"):
        v2.model_validate(stored_v1.payload)  # the stored payload no longer validates as it is

    result = events_replay(events=[stored_v1])

    assert result.skipped == []
    assert result.replayed == 1
    replay = EventLog.objects.get(event_id=result.new_event_ids[0])
    assert replay.replay_of_id == stored_v1.id
    assert replay.version == 2
    assert replay.payload["firstName"] == "Ada" and replay.payload["lastName"] == "Lovelace"
    assert "fullName" not in replay.payload
    stored_v1.refresh_from_db()
    assert stored_v1.payload["fullName"] == "Ada Lovelace" and stored_v1.version == 1  # the log keeps history


def test_a_replay_skips_with_a_reason_a_payload_its_upcaster_cannot_convert(scratch_catalogue, tenant):
    _deploy(scratch_catalogue, _version_1)
    row = emit(
        scratch_catalogue[NAME], {"tenantId": str(tenant.id), "fullName": "Ada", "addedAt": "2026-11-01T09:00:00Z"}
    )
    EventLog.objects.filter(pk=row.pk).update(payload={"tenantId": str(tenant.id)})  # a damaged old row
    row.refresh_from_db()
    _deploy(scratch_catalogue, _version_2)

    result = events_replay(events=[row])

    assert result.replayed == 0
    assert result.skipped == [f"event {row.event_id}: version 1 cannot be upcast: KeyError('fullName')"]


def test_a_run_started_or_resumed_with_an_older_event_gets_the_current_model(scratch_catalogue):
    v2 = _deploy(scratch_catalogue, _version_2)
    tenant_id = str(uuid.uuid4())
    old = {"tenantId": tenant_id, "fullName": "Grace Hopper", "addedAt": "2026-11-01T09:00:00Z"}
    new = {"tenantId": tenant_id, "firstName": "Alan", "lastName": "Turing", "addedAt": "2026-11-01T09:00:00Z"}

    def incoming(data, **envelope):
        return inngest.Event.model_validate({"name": NAME, "data": data, **envelope})

    as_v1 = v2.from_inngest(incoming(old, v="1"))
    unversioned = v2.from_inngest(incoming(old))  # no `v`: everything sent before versions is version 1
    as_v2 = v2.from_inngest(incoming(new, v="2"))

    assert (as_v1.first_name, as_v1.last_name) == ("Grace", "Hopper")
    assert (unversioned.first_name, unversioned.last_name) == ("Grace", "Hopper")
    assert (as_v2.first_name, as_v2.last_name) == ("Alan", "Turing")
    with pytest.raises(EventVersionError, match="version 3 is newer"):
        v2.from_inngest(incoming(new, v="3"))
    with pytest.raises(EventVersionError, match="not a positive integer"):
        v2.from_inngest(incoming(new, v="2023-05-12.1"))


def test_a_version_bump_without_an_upcaster_fails_at_import(scratch_catalogue):
    with pytest.raises(EventVersionError, match=r"missing from \[1, 2\]"):

        class PersonAdded(Event):
            name: ClassVar[str] = NAME
            version: ClassVar[int] = 3
            first_name: str


def test_every_emitted_event_carries_its_version_as_v(
    scratch_catalogue, tenant, event_api, django_capture_on_commit_callbacks
):
    _deploy(scratch_catalogue, _version_2)
    payload = {"tenantId": str(tenant.id), "firstName": "Ada", "lastName": "L", "addedAt": "2026-11-01T09:00:00Z"}
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        row = emit(scratch_catalogue[NAME], payload)

    assert [event["v"] for event in event_api.received] == ["2"]
    row.refresh_from_db()
    assert row.status == EventLog.Status.SENT and row.version == 2
