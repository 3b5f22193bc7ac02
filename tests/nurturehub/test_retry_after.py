"""The one Retry-After reader of the CRM adapters and the AI calls, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from nurturehub.retry_after import retry_after_seconds

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("", None),
        ("   ", None),
        (None, None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_delta_seconds(header, expected):
    assert retry_after_seconds(header, now=NOW) == expected


def test_an_http_date_is_the_time_left_until_it():
    header = format_datetime(NOW + timedelta(seconds=30), usegmt=True)  # "Mon, 02 Mar 2026 09:00:30 GMT"
    assert retry_after_seconds(header, now=NOW) == 30.0


def test_an_http_date_in_the_past_is_zero():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


def test_a_date_without_a_time_zone_is_unreadable_not_guessed():
    assert retry_after_seconds("Mon, 02 Mar 2026 09:00:30 -0000", now=NOW) is None
