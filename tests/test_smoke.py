from __future__ import annotations

import httpx
from django.db import connection


def test_database_is_real_postgresql(db):
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")


def test_serve_endpoint_answers_inngest_introspection(live_server):
    response = httpx.get(f"{live_server.url}/api/inngest")
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "dev"
    assert body["function_count"] >= 1
