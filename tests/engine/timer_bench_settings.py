"""Settings for the timer benchmark's web process (bench/timers.py): the project's, serving the timer functions."""

from __future__ import annotations

from nurturehub.settings import *  # noqa: F403

ROOT_URLCONF = "tests.engine.urls_timers"
