"""Fuzzing the engine's endpoints in the suite: schemathesis over `/e/<key>`, `/fn/register` and `/v0/gql` with
the keys (production mode: an event key and a signing key), and a hypothesis property over event intake.

No 5xx, whatever is sent. Bounded and derandomized (a fixed number of examples, no deadline, no example
database) so that it is the same run each time and does not depend on the machine's speed.
"""

from __future__ import annotations

import json
import math

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from jobs.engine.models import Event
from jobs.engine.protocol import ProtocolError, datetime_to_ms, parse_event_batch
from jobs.engine.services.intake import events_ingest

pytestmark = pytest.mark.django_db

EVENT_KEY = "fuzz-event-key"
SIGNING_KEY = "signkey-test-" + "cd" * 32
BOUNDED = hypothesis_settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)

APP = get_wsgi_application()

# The engine's two JSON endpoints as an OpenAPI document (Inngest publishes none): loose on purpose, so that
# schemathesis sends wrong types, extra fields and odd strings as well as well-formed calls.
ENGINE_OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "local engine", "version": "1"},
    "paths": {
        "/e/{key}": {
            "post": {
                "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"enum": [EVENT_KEY]}}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "maxItems": 5,
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string"},
                                        "data": {"type": "object"},
                                        "id": {"type": "string"},
                                        "ts": {"type": "number"},
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "ids"}, "400": {"description": "refused"}},
            }
        },
        "/fn/register": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "appName": {"type": "string"},
                                    "url": {"type": "string"},
                                    "functions": {
                                        "type": "array",
                                        "maxItems": 3,
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "id": {"type": "string"},
                                                "name": {"type": "string"},
                                                "triggers": {"type": "array", "items": {"type": "object"}},
                                                "steps": {"type": "object"},
                                                "concurrency": {},
                                                "batchEvents": {},
                                                "debounce": {},
                                                "cancel": {},
                                            },
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "synced"}, "400": {"description": "refused"}},
            }
        },
    },
}
engine_schema = schemathesis.openapi.from_dict(ENGINE_OPENAPI)
# Loaded by introspection through the app itself, in the test settings' development mode (no key needed yet).
graphql_schema = schemathesis.graphql.from_wsgi("/v0/gql", APP)


@pytest.fixture(autouse=True)
def _production_keys(settings):
    settings.INNGEST_DEV = False
    settings.INNGEST_EVENT_KEY = EVENT_KEY
    settings.INNGEST_SIGNING_KEY = SIGNING_KEY


@pytest.fixture(autouse=True)
def _keep_the_test_connection(db):
    """The WSGI handler closes the database connection at each request's end (see tests/api/test_schema_fuzz.py)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _no_server_error(case) -> None:
    response = case.call(app=APP, headers={"Authorization": f"Bearer {SIGNING_KEY}"})
    assert response.status_code < 500, (case.as_curl_command(), response.status_code, response.text[:500])


@engine_schema.parametrize()
@BOUNDED
def test_the_engines_json_endpoints_never_answer_5xx(case):
    _no_server_error(case)


@graphql_schema.parametrize()
@BOUNDED
def test_graphql_never_answers_5xx(case):
    _no_server_error(case)


# --- intake as a property -----------------------------------------------------------------------------------

# Storable values: any text without NUL or lone surrogates (PostgreSQL takes it), finite numbers, 64-bit ints.
storable_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)
storable_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        storable_text,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(storable_text, inner, max_size=3),
    max_leaves=10,
)
storable_events = st.fixed_dictionaries(
    {"name": st.from_regex(r"[a-z]{1,8}/[a-z.]{1,12}", fullmatch=True)},
    optional={"data": st.dictionaries(storable_text, storable_values, max_size=4), "id": storable_text},
)


def _deep(depth: int) -> object:
    value: object = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# What no event may carry anywhere: Python's parser takes each of these, PostgreSQL or the `cel` library does not.
POISONS = ["\x00", "a\x00b", "\ud800", "x\udfff", math.nan, math.inf, -math.inf, 10**30, -(2**63) - 1, _deep(200)]
PLACES = ["name", "id", "key", "value", "nested value", "list item"]


def _poisoned(event: dict, poison: object, place: str) -> dict:
    event = json.loads(json.dumps(event))
    data = event.setdefault("data", {})
    if place in ("name", "id"):
        event[place] = poison
    elif place == "key":
        data[poison if isinstance(poison, str) else "\x00"] = 1
    elif place == "value":
        data["poisoned"] = poison
    elif place == "nested value":
        data["outer"] = {"inner": [0, {"deepest": poison}]}
    else:
        data["items"] = ["fine", poison]
    return event


@given(
    batch=st.lists(storable_events, min_size=1, max_size=4),
    poison=st.sampled_from(POISONS),
    place=st.sampled_from(PLACES),
    index=st.integers(min_value=0, max_value=3),
)
@BOUNDED
def test_intake_refuses_a_batch_naming_the_event_that_carries_what_cannot_be_stored(batch, poison, place, index):
    """NUL, lone surrogates, NaN, Infinity, numbers out of range, deep nesting, in any field of any event."""
    index %= len(batch)
    batch[index] = _poisoned(batch[index], poison, place)
    body = json.dumps(batch, allow_nan=True).encode()  # ensure_ascii: lone surrogates travel as \\ud800

    with pytest.raises(ProtocolError) as refused:
        parse_event_batch(body, now_ms=datetime_to_ms(timezone.now()))

    assert f"event [{index}]" in str(refused.value) or "nested deeper" in str(refused.value), str(refused.value)


@given(batch=st.lists(storable_events, min_size=1, max_size=4))
@BOUNDED
def test_intake_stores_every_event_of_a_storable_batch(batch):
    """The other side: whatever the layer lets through, PostgreSQL stores (no 500 after the check)."""
    before = Event.objects.count()
    accepted = parse_event_batch(json.dumps(batch).encode(), now_ms=datetime_to_ms(timezone.now()))

    assert len(events_ingest(events=accepted, seed=None)) == len(batch)
    assert Event.objects.count() == before + len(batch)
