"""Settings for the engine benchmarks' web process: the project's, plus the test-only functions' serve endpoint."""

from __future__ import annotations

from nurturehub.settings import *  # noqa: F403

ROOT_URLCONF = "tests.engine.urls"
