"""The engine's one delay scale: every delay it waits (sleeps, retries, waits, debounce, batches, flow-control
periods, timeouts) is multiplied by ENGINE_DELAY_SCALE, 1 in production, less in tests and demos, so that all of
them shrink alike and their order is kept.

Read here only. The engine is a separable app whose settings may be absent from a host project, hence the default.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from .protocol import scale_delay


def delay_scale() -> float:
    return float(getattr(settings, "ENGINE_DELAY_SCALE", 1.0))


def scaled(delay: timedelta) -> timedelta:
    """`delay` as the engine waits it (a negative delay is none)."""
    return scale_delay(delay, delay_scale())
