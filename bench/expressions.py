"""The worst CEL evaluation the engine allows (jobs/engine/expression_cost.py), against a trivial one on the same event.

Each case is the most expensive expression of its kind that still passes the sync check and the evaluation budget,
over the event that makes it most expensive; the baseline is `event.data.x == 1` (one reference) over that same
event, timed in this run. Figures are the best of several evaluations, in ms; the aim is at most 100 ms per
event for every case.
- references: the most references an expression can have at the largest weight the budget allows for them;
- patterns: `MAX_PATTERN_CALLS` matches() calls, each the biggest pattern allowed (Unicode classes repeated),
  over a 3 MB string (the largest event);
Run: `.venv/bin/python bench/expressions.py` (a few seconds, no database).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _setup import best_of

from jobs.engine import expression_cost, expressions
from jobs.engine.protocol import MAX_EVENT_BYTES

BASELINE = "async.data.x == 1"


def referencing(count: int) -> str:
    return " && ".join(["async.data.ids != []"] * count)


def largest_allowed(expression: str) -> dict:
    """The event with the longest `ids` list the budget still lets `expression` be evaluated over."""
    low, high = 1, 4_000_000
    while low < high:
        middle = (low + high + 1) // 2
        activation = {"event": {}, "async": {"data": {"x": 1, "ids": list(range(middle))}}}
        if expression_cost.over_budget(expression, activation) is None:
            low = middle
        else:
            high = middle - 1
    return {"event": {}, "async": {"data": {"x": 1, "ids": list(range(low))}}}


def measure(name: str, expression: str, activation: dict, repeats: int = 5) -> None:
    expressions.check(expression, what="bench", variables=("event", "async"))
    assert expression_cost.over_budget(expression, activation) is None, name
    worst = best_of(repeats, lambda: expressions.evaluate(expression, activation))
    baseline = best_of(repeats, lambda: expressions.evaluate(BASELINE, activation))
    print(f"{name:<44} {worst * 1000:8.1f} ms   baseline {baseline * 1000:7.1f} ms   ratio {worst / baseline:6.1f}")


def main() -> None:
    print(f"budget {expression_cost.BUDGET:,} units; aim: every case at most 100 ms per event")
    for count in (1, 2, 10, 150):
        expression = referencing(count)
        activation = largest_allowed(expression)
        size = len(activation["async"]["data"]["ids"])
        measure(f"references: {count} over {size:,} ids", expression, activation)

    wide = r"\w" + "{" + str(expression_cost.MAX_PATTERN_SIZE // expression_cost.UNICODE_CLASS_SIZE) + "}"
    negated = r"[^a]" + "{" + str(expression_cost.MAX_PATTERN_SIZE // expression_cost.UNICODE_CLASS_SIZE) + "}"
    for pattern in (wide, negated, r"(\d|\s)" + "{10}"):
        calls = " || ".join([f"async.data.s.matches(r'{pattern}$')"] * expression_cost.MAX_PATTERN_CALLS)
        activation = {"event": {}, "async": {"data": {"x": 1, "s": "a" * (MAX_EVENT_BYTES - 100)}}}
        measure(f"patterns: {expression_cost.MAX_PATTERN_CALLS} x {pattern!r} over 3 MB", calls, activation)


if __name__ == "__main__":
    main()
