"""Logging filters the settings' LOGGING names (no Django imports: logging is configured before the apps load)."""

from __future__ import annotations

import logging

READINESS_PATH = "/readyz"


class ReadinessAnswers(logging.Filter):
    """Drops django.request's ERROR record of a 503 from `/readyz`.

    Not ready is the probe's answer, not a failing view: `run_all` and supervisors poll it while a dispatcher starts,
    and a load balancer during an Inngest outage; Django would log each poll as "Service Unavailable" at ERROR. Any
    other 5xx, `/readyz`'s 500 included, is still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return not (getattr(record, "status_code", None) == 503 and getattr(request, "path", None) == READINESS_PATH)
