"""A step waiting seconds on a provider holds no database connection: with 100 AI calls in flight across the
agencies, holding one each would need 100 connections (PostgreSQL's default `max_connections`), and a pool would
starve the requests that only need the database for a moment."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from jobs.events import NurtureSequenceGenerate
from jobs.functions import nurture
from jobs.steps import release_db_connection
from tests.pipeline.engine_pipeline import wire_event

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _connected(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


def test_the_ai_step_gives_its_database_connection_back_while_the_provider_answers(
    pipeline, tenant, make_contact, openai_server, monkeypatch
):
    contact = make_contact(tenant=tenant, first_name="Priya")
    contact.category = "seller"
    contact.save()
    event = wire_event(
        NurtureSequenceGenerate(
            tenant_id=tenant.id,
            contact_id=contact.id,
            category="seller",
            brand_voice=tenant.brand_voice,
            assignment_id=1,
            source="api",
            triggered_at=timezone.now(),
        )
    )
    driven: dict[str, object] = {}

    def release_noting_the_connection() -> None:  # in the serve endpoint's thread, just before the provider call
        driven["pid"] = _backend_pid()
        release_db_connection()

    monkeypatch.setattr(nurture, "release_db_connection", release_noting_the_connection)

    def drive() -> None:
        driven["run"] = pipeline.run("nurture-sequence-generate", event)

    openai_server.hold()
    thread = threading.Thread(target=drive)
    thread.start()
    try:
        openai_server.wait_for_in_flight({tenant.name: 1})  # the AI step is inside the provider call now
        held_during_call = _connected(driven["pid"])
    finally:
        openai_server.release()
        thread.join()

    assert held_during_call is False
    assert driven["run"].status == "completed"
