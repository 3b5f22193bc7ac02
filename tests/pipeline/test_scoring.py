"""Intent scoring against domain.md's table, on worked examples computed by hand (shown in each test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenants.scoring import Signal, compute_score, decay_factor, multiplier_for

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return NOW - timedelta(days=1) + timedelta(minutes=minutes)


def open_(position: int, minute: int, sequence: str = "s1") -> Signal:
    return Signal("email.open", at(minute), email_position=position, sequence_id=sequence)


def click(position: int, url: str, minute: int) -> Signal:
    return Signal("email.click", at(minute), email_position=position, sequence_id="s1", url=url)


def test_buyer_opens_click_and_reply_add_up_without_a_multiplier():
    signals = [
        open_(1, 0),  # first open of email 1: 5
        open_(1, 1),  # repeat open: 2
        open_(2, 2),  # first open of email 2: 8
        click(2, "https://agency.example/homes/42", 3),  # first click of a link: 15
        Signal("email.reply", at(4)),  # reply: 25
    ]
    result = compute_score(signals=signals, category="buyer", now=NOW)

    # 5 + 2 + 8 + 15 + 25 = 55, x1.0 = 55: below warm (60)
    assert result.score == 55
    assert result.band == "cold"
    assert result.breakdown["events"] == {
        "email.open": {"count": 3, "points": 15},
        "email.click": {"count": 1, "points": 15},
        "email.reply": {"count": 1, "points": 25},
    }
    assert result.breakdown["raw_points"] == 55
    assert result.breakdown["multiplier"] == 1.0


def test_seller_booking_click_and_reply_are_multiplied_by_1_3():
    signals = [
        open_(1, 0),  # 5
        click(1, "https://agency.example/Book-a-Valuation", 1),  # booking link: 30
        Signal("email.reply", at(2)),  # 25
    ]
    result = compute_score(signals=signals, category="seller", now=NOW)

    # (5 + 30 + 25) = 60, x1.3 = 78: warm (60 <= 78 < 80)
    assert result.score == 78
    assert result.band == "warm"


def test_vendor_reply_and_viewing_cross_hot_rounding_half_up():
    signals = [Signal("email.reply", at(0)), Signal("viewing.booked", at(5))]
    result = compute_score(signals=signals, category="vendor", now=NOW)

    # (25 + 30) = 55, x1.5 = 82.5, rounded half up = 83: hot
    assert result.score == 83
    assert result.band == "hot"


def test_score_is_clamped_to_100():
    signals = [
        Signal("email.reply", at(0)),
        Signal("valuation.booked", at(1)),
        click(1, "https://calendly.com/agency/valuation", 2),
    ]
    result = compute_score(signals=signals, category="vendor", now=NOW)

    # (25 + 30 + 30) = 85, x1.5 = 127.5, clamped to 100
    assert result.score == 100
    assert result.breakdown["raw_points"] == 85


def test_clicks_in_email_3_score_20_and_a_repeat_click_of_the_same_link_scores_nothing():
    signals = [
        click(3, "https://agency.example/guide", 0),  # first click, in email 3: 20
        click(3, "https://agency.example/guide/", 1),  # the same link again: 0
        click(1, "https://agency.example/area", 2),  # another link: 15
    ]
    result = compute_score(signals=signals, category="buy-to-let-investor", now=NOW)

    # (20 + 0 + 15) = 35, x1.2 = 42
    assert result.score == 42
    assert result.breakdown["events"]["email.click"] == {"count": 3, "points": 35}


def test_first_open_is_per_email_so_a_new_sequence_scores_a_first_open_again():
    signals = [open_(1, 0, "s1"), open_(1, 1, "s2")]
    assert compute_score(signals=signals, category="buyer", now=NOW).score == 10  # 5 + 5


def test_opens_alone_never_make_a_lead_hot():
    opens = [open_(1, 0), open_(2, 1), open_(3, 2)] + [open_(1, 3 + index) for index in range(20)]
    result = compute_score(signals=opens, category="landlord", now=NOW, hot_threshold=80, multipliers={"landlord": 3.0})

    # (5 + 8 + 5 + 20 x 2) = 58, x3.0 = 174, clamped to 100, but opens only: held one below hot = 79
    assert result.score == 79
    assert result.band == "warm"
    assert result.breakdown["opens_only_capped"] is True


def test_one_reply_lifts_the_opens_only_cap():
    signals = [*(open_(1, index) for index in range(30)), Signal("email.reply", at(40))]
    result = compute_score(signals=signals, category="buyer", now=NOW, multipliers={"buyer": 2.0})

    # (5 + 29 x 2 + 25) = 88, x2.0 = 176, clamped to 100; a reply is not an open: no cap
    assert result.score == 100
    assert result.band == "hot"


@pytest.mark.parametrize(
    ("idle_days", "expected"),
    [
        (30, 91),  # 70 x 1.3 = 91: no decay within 30 idle days
        (36, 91),  # not yet a full week past 30 days
        (37, 82),  # one week: 91 x 0.9 = 81.9 -> 82
        (51, 66),  # three weeks: 91 x 0.729 = 66.339 -> 66
    ],
)
def test_decay_takes_10_percent_per_full_week_after_30_idle_days(idle_days, expected):
    last = NOW - timedelta(days=idle_days)
    signals = [
        Signal("email.reply", last - timedelta(hours=2)),  # 25
        Signal("email.click", last - timedelta(hours=1), email_position=1, url="https://x.example/book"),  # 30
        Signal("email.click", last, email_position=2, url="https://x.example/area"),  # 15
    ]
    assert compute_score(signals=signals, category="seller", now=NOW).score == expected


def test_decay_factor_is_per_full_week():
    assert decay_factor(last_engagement_at=NOW - timedelta(days=44), now=NOW) == (pytest.approx(0.81), 44)
    assert decay_factor(last_engagement_at=None, now=NOW) == (1.0, 0)


def test_tenant_multipliers_override_the_defaults():
    assert multiplier_for("seller") == 1.3
    assert multiplier_for("vendor") == 1.5
    assert multiplier_for("buy-to-let-investor") == 1.2
    assert multiplier_for("tenant") == 1.0
    assert multiplier_for("seller", {"seller": 1.0}) == 1.0
    assert multiplier_for("tenant", {"tenant": 1.1}) == 1.1


def test_thresholds_decide_the_band():
    signals = [Signal("email.reply", at(0)), Signal("email.reply", at(1)), Signal("email.reply", at(2))]
    # 75 points
    assert compute_score(signals=signals, category="buyer", now=NOW).band == "warm"
    assert compute_score(signals=signals, category="buyer", now=NOW, warm_threshold=50, hot_threshold=70).band == "hot"


def test_no_engagement_scores_zero():
    result = compute_score(signals=[], category="seller", now=NOW)
    assert (result.score, result.band) == (0, "cold")


def test_an_unknown_engagement_kind_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown engagement kind 'email\.bounce'"):
        compute_score(signals=[Signal("email.bounce", at(0))], category="buyer", now=NOW)
