from __future__ import annotations

import pytest

from jobs.events import CATALOGUE


@pytest.fixture
def scratch_catalogue():
    """Event classes a test defines are registered for that test only (the contract must not see them)."""
    saved = dict(CATALOGUE)
    yield CATALOGUE
    CATALOGUE.clear()
    CATALOGUE.update(saved)
