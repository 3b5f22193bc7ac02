from __future__ import annotations

from tests.ops.conftest import make_event_log, make_run  # noqa: F401 - the same builders as the admin tests
