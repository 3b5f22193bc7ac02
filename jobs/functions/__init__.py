"""Every Inngest function of the app, in one list for `serve` (one module per domain)."""

from __future__ import annotations

import inngest

from .contacts import contact_category_assigned

ALL_FUNCTIONS: list[inngest.Function] = [
    contact_category_assigned,
]
