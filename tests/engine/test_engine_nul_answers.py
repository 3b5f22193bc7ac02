"""An SDK answer whose strings hold a NUL (an AI reply or a CRM field with a stray \\x00): PostgreSQL stores no NUL in
text or jsonb, so the answer, stored as it came, failed its transaction every time and its step ran again and again.
The engine stores it with each NUL as U+FFFD, as the ledger's and the admin's text are stored."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from jobs.engine.step_call import StepCaller


def _answer(httpserver, body: bytes) -> object:
    httpserver.expect_request("/api/inngest").respond_with_data(
        body, status=206, headers={"x-inngest-sdk": "py:v0.5", "content-type": "application/json"}
    )

    async def call():
        async with aiohttp.ClientSession() as http:
            caller = StepCaller(signing_key="", server_kind="dev")
            response, _, _ = await caller.call(http, httpserver.url_for("/api/inngest"), {}, run_id="r", job=1)
            return response

    return asyncio.run(call())


def test_a_nul_in_a_step_output_or_error_is_stored_as_the_replacement_character(httpserver):
    ops = [
        {"op": "StepRun", "id": "a", "data": {"reply": "Dear\u0000 seller", "k\u0000": ["x\u0000"]}},
        {"op": "StepError", "id": "b", "error": {"name": "Error", "message": "bad\u0000byte"}},
        {"op": "StepRun", "id": "c", "data": "lone \ud800 surrogate, a pair \U0001f600 kept"},
    ]

    response = _answer(httpserver, json.dumps(ops).encode())

    assert response.body == [
        {"op": "StepRun", "id": "a", "data": {"reply": "Dear\ufffd seller", "k\ufffd": ["x\ufffd"]}},
        {"op": "StepError", "id": "b", "error": {"name": "Error", "message": "bad\ufffdbyte"}},
        {"op": "StepRun", "id": "c", "data": "lone \ufffd surrogate, a pair \U0001f600 kept"},
    ]


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul_and_is_left_alone(httpserver):
    response = _answer(httpserver, json.dumps([{"op": "StepRun", "id": "a", "data": "C:\\u0000"}]).encode())

    assert response.body == [{"op": "StepRun", "id": "a", "data": "C:\\u0000"}]


@pytest.mark.django_db
def test_postgresql_refuses_a_nul_in_jsonb_which_is_why(django_db_blocker):
    from django.db import DataError, connection, transaction

    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb", [json.dumps({"reply": "a\u0000b"})])
