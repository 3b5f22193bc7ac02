"""Intent scoring, pure: engagement in, a 0-100 score and the breakdown that explains it out (domain.md's table).

No database access and no clock of its own (`now` is an argument), so every rule can be checked by hand.

Points (domain.md): first open of an email +5 (+8 when it is email 2), repeat open +2, first click of a link +15
(+20 when the click is in email 3, +30 when the URL is a booking link), reply +25, viewing/valuation booked +30.
Decisions where domain.md is silent, each named below: a repeat click of the same link scores 0; an offer made
scores like a booking (+30); several bonuses never stack (the highest applies).
Then: x the category multiplier, x 0.9 per full idle week after 30 idle days, rounded half up, clamped to 0-100.
Opens alone never make a lead hot (mail privacy proxies pre-fetch images): such a score stops one below hot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OPEN = "email.open"
CLICK = "email.click"
REPLY = "email.reply"
VIEWING_BOOKED = "viewing.booked"
VALUATION_BOOKED = "valuation.booked"
OFFER_MADE = "offer.made"
KINDS = (OPEN, CLICK, REPLY, VIEWING_BOOKED, VALUATION_BOOKED, OFFER_MADE)

POINTS_FIRST_OPEN = 5
POINTS_FIRST_OPEN_EMAIL_2 = 8
POINTS_REPEAT_OPEN = 2
POINTS_FIRST_CLICK = 15
POINTS_FIRST_CLICK_EMAIL_3 = 20
POINTS_BOOKING_CLICK = 30
POINTS_REPEAT_CLICK = 0  # Decision: not in domain.md's table; the first click already counted the interest.
POINTS_REPLY = 25
POINTS_BOOKED = 30
POINTS_OFFER_MADE = 30  # Decision: not in domain.md's table; an offer is at least as strong as a booking.

BOOKING_URL = re.compile(r"book|valuat|appoint|calendly", re.IGNORECASE)

DEFAULT_MULTIPLIERS: dict[str, float] = {"seller": 1.3, "vendor": 1.5, "buy-to-let-investor": 1.2}

IDLE_DAYS_BEFORE_DECAY = 30
DECAY_PER_WEEK = 0.9
MAX_SCORE = 100


@dataclass(frozen=True)
class Signal:
    """One engagement event as scoring sees it."""

    kind: str
    occurred_at: datetime
    email_position: int | None = None
    sequence_id: str | None = None
    url: str = ""


@dataclass(frozen=True)
class ScoreResult:
    score: int
    band: str
    breakdown: dict[str, Any] = field(default_factory=dict)


def multiplier_for(category: str, overrides: Mapping[str, float] | None = None) -> float:
    """The tenant's multiplier for a category: its override, else domain.md's default, else 1.0."""
    merged = {**DEFAULT_MULTIPLIERS, **{key: float(value) for key, value in (overrides or {}).items()}}
    return merged.get(category, 1.0)


def decay_factor(*, last_engagement_at: datetime | None, now: datetime) -> tuple[float, int]:
    """(factor, idle days): 1.0 until 30 idle days, then x0.9 for each full week beyond them."""
    if last_engagement_at is None:
        return 1.0, 0
    idle_days = max((now - last_engagement_at).days, 0)
    weeks = max(idle_days - IDLE_DAYS_BEFORE_DECAY, 0) // 7
    return DECAY_PER_WEEK**weeks, idle_days


def band_for(score: int, *, warm: int, hot: int) -> str:
    if score >= hot:
        return "hot"
    if score >= warm:
        return "warm"
    return "cold"


def signal_points(signals: Iterable[Signal]) -> list[tuple[Signal, int, str]]:
    """Each signal with its points and the rule that gave them, in the order they happened."""
    seen_emails: set[tuple[str | None, int | None]] = set()
    seen_links: set[str] = set()
    scored: list[tuple[Signal, int, str]] = []
    for signal in sorted(signals, key=lambda item: item.occurred_at):
        if signal.kind == OPEN:
            email = (signal.sequence_id, signal.email_position)
            if email in seen_emails:
                scored.append((signal, POINTS_REPEAT_OPEN, "repeat open"))
            elif signal.email_position == 2:
                scored.append((signal, POINTS_FIRST_OPEN_EMAIL_2, "first open of email 2"))
            else:
                scored.append((signal, POINTS_FIRST_OPEN, "first open"))
            seen_emails.add(email)
        elif signal.kind == CLICK:
            link = _normalise_url(signal.url)
            if link in seen_links:
                scored.append((signal, POINTS_REPEAT_CLICK, "repeat click"))
            elif BOOKING_URL.search(signal.url or ""):
                scored.append((signal, POINTS_BOOKING_CLICK, "booking link click"))
            elif signal.email_position == 3:
                scored.append((signal, POINTS_FIRST_CLICK_EMAIL_3, "first click in email 3"))
            else:
                scored.append((signal, POINTS_FIRST_CLICK, "first click"))
            seen_links.add(link)
        elif signal.kind == REPLY:
            scored.append((signal, POINTS_REPLY, "reply"))
        elif signal.kind in (VIEWING_BOOKED, VALUATION_BOOKED):
            scored.append((signal, POINTS_BOOKED, "booked"))
        elif signal.kind == OFFER_MADE:
            scored.append((signal, POINTS_OFFER_MADE, "offer made"))
        else:
            raise ValueError(f"unknown engagement kind {signal.kind!r}; known: {', '.join(KINDS)}")
    return scored


def compute_score(
    *,
    signals: Iterable[Signal],
    category: str,
    now: datetime,
    warm_threshold: int = 60,
    hot_threshold: int = 80,
    multipliers: Mapping[str, float] | None = None,
) -> ScoreResult:
    """The contact's score from all its engagement, with a breakdown by event type (what the admin shows)."""
    scored = signal_points(signals)
    by_kind: dict[str, dict[str, int]] = {}
    for signal, points, _rule in scored:
        entry = by_kind.setdefault(signal.kind, {"count": 0, "points": 0})
        entry["count"] += 1
        entry["points"] += points
    raw_points = sum(points for _, points, _ in scored)
    multiplier = multiplier_for(category, multipliers)
    last_engagement_at = max((signal.occurred_at for signal, _, _ in scored), default=None)
    factor, idle_days = decay_factor(last_engagement_at=last_engagement_at, now=now)
    score = min(max(_round_half_up(raw_points * multiplier * factor), 0), MAX_SCORE)
    opens_only = bool(scored) and all(signal.kind == OPEN for signal, _, _ in scored)
    capped = opens_only and score >= hot_threshold
    if capped:
        score = hot_threshold - 1
    breakdown: dict[str, Any] = {
        "events": by_kind,
        "raw_points": raw_points,
        "multiplier": multiplier,
        "decay_factor": round(factor, 6),
        "idle_days": idle_days,
        "opens_only_capped": capped,
        "last_engagement_at": last_engagement_at.isoformat() if last_engagement_at else None,
    }
    return ScoreResult(score=score, band=band_for(score, warm=warm_threshold, hot=hot_threshold), breakdown=breakdown)


def _round_half_up(value: float) -> int:
    # Round on a tidy decimal first: 70 * 1.3 is 91.00000000000001 in binary floating point.
    return math.floor(round(value, 9) + 0.5)


def _normalise_url(url: str) -> str:
    return (url or "").strip().rstrip("/").lower()
