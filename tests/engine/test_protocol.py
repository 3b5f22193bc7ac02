"""The engine's protocol rules on their own: delays, ids, expressions, durations, signatures."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta

import pytest
from inngest._internal import net, server_lib
from ulid import ULID

from jobs.engine.protocol import (
    BACKOFF_TABLE_SECONDS,
    ProtocolError,
    backoff_delay,
    canonical_json,
    concurrency_queue_key,
    event_ids_from_seed,
    parse_duration,
    parse_retry_after,
    parse_sleep_until,
    scale_delay,
    sign_body,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2026-11-24T12:00:30.000Z", timedelta(seconds=30)),
        ("45", timedelta(seconds=45)),
        ("2026-11-24T11:00:00Z", timedelta(seconds=1)),  # in the past: clamped to 1 s
        ("0", timedelta(seconds=1)),
        ("2026-12-24T12:00:00Z", timedelta(hours=24)),  # a month away: clamped to 24 h
        ("999999", timedelta(hours=24)),
    ],
)
def test_retry_after_accepts_iso_dates_and_seconds_clamped_to_1s_24h(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


@pytest.mark.parametrize("header", [None, "", "soon"])
def test_retry_after_absent_or_unreadable_means_use_the_backoff_table(header):
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize(("failed_attempt", "base"), [(0, 15), (1, 30), (2, 60), (8, 3600), (9, 7200), (15, 7200)])
def test_backoff_follows_inngests_table_plus_up_to_30s_jitter(failed_attempt, base):
    delays = [backoff_delay(failed_attempt, rng=random.Random(seed)).total_seconds() for seed in range(50)]
    assert all(base <= delay <= base + 30 for delay in delays)
    assert max(delays) - min(delays) > 5  # jitter is really applied
    assert BACKOFF_TABLE_SECONDS[min(failed_attempt, 9)] == base


def test_scaling_shrinks_every_delay_alike_so_order_is_kept():
    delays = [timedelta(seconds=s) for s in (15, 30, 3600)]
    scaled = [scale_delay(d, 0.001) for d in delays]
    assert scaled == [timedelta(milliseconds=15), timedelta(milliseconds=30), timedelta(seconds=3.6)]


def test_event_ids_from_a_seed_are_stable_ulids_that_differ_per_event():
    seed = f"1764000000000,{base64.b64encode(bytes(range(10))).decode()}"

    first = event_ids_from_seed(seed, 3)

    assert first == event_ids_from_seed(seed, 3)
    assert len(set(first)) == 3
    assert all(ULID.from_str(i).milliseconds == 1764000000000 for i in first)
    assert event_ids_from_seed("garbage", 2) != event_ids_from_seed("garbage", 2)  # no seed: fresh ids


def test_sleep_wake_time_comes_from_the_iso_name_the_python_sdk_sends():
    assert parse_sleep_until("2026-11-24T12:05:00.000Z", None, now=NOW) == NOW + timedelta(minutes=5)
    assert parse_sleep_until("ignored", {"duration": "90s"}, now=NOW) == NOW + timedelta(seconds=90)
    assert parse_sleep_until("1h30m", None, now=NOW) == NOW + timedelta(minutes=90)


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("5m", 300), ("2d", 172800), ("1h30m", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_bad_duration_is_an_error():
    with pytest.raises(ProtocolError, match="not a duration"):
        parse_duration("soon")


def test_env_and_account_scopes_share_a_key_across_functions_fn_scope_does_not():
    assert concurrency_queue_key(scope="env", function_slug="a", value="x") == concurrency_queue_key(
        scope="env", function_slug="b", value="x"
    )
    assert concurrency_queue_key(scope="fn", function_slug="a", value="x") != concurrency_queue_key(
        scope="fn", function_slug="b", value="x"
    )


def test_the_sdk_accepts_the_engines_request_signature():
    key = "signkey-test-" + "ab" * 32
    body = canonical_json({"b": 1, "a": [1, 2]})
    headers = {"x-inngest-signature": sign_body(body, key)}

    assert body == b'{"a":[1,2],"b":1}'
    result = net.validate_request_sig(
        body=body, headers=headers, mode=server_lib.ServerKind.CLOUD, signing_key=key, signing_key_fallback=None
    )
    assert not isinstance(result, Exception), result
    forged = net.validate_request_sig(
        body=b'{"a":[1,2],"b":2}',
        headers=headers,
        mode=server_lib.ServerKind.CLOUD,
        signing_key=key,
        signing_key_fallback=None,
    )
    assert isinstance(forged, Exception)
