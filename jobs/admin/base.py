"""What every monitoring admin page shares: the read-only mixin, badges, durations and pretty JSON."""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest
from django.utils.html import format_html

from nurturehub.admin_readonly import ReadOnlyAdminMixin as SharedReadOnlyAdminMixin

REPLAY_PERMISSION = "jobs.replay_jobrun"
CANCEL_PERMISSION = "jobs.cancel_jobrun"


MAX_ROW_ID = (1 << 63) - 1  # a bigint primary key


def row_id_or_404(object_id: str) -> int:
    """The row id in an admin URL (`/jobrun/<id>/replay/`); 404 for anything that cannot be one (`abc`, a number
    past bigint): the ORM would raise ValueError or DataError, a 500."""
    if not object_id.isascii() or not object_id.isdigit() or int(object_id) > MAX_ROW_ID:
        raise Http404(f"No row with id {object_id[:40]!r}.")
    return int(object_id)


class ReadOnlyAdminMixin(SharedReadOnlyAdminMixin):
    """Log tables are written by the system only; staff read them and act through confirmed admin actions."""

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)


def pretty_json(value: object) -> str:
    """The full value, pretty-printed and never truncated (operators need the whole payload)."""
    return format_html('<pre class="nh-json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, default=str))


def status_badge(status: str, label: str | None = None) -> str:
    return format_html('<span class="nh-status nh-status-{}">{}</span>', status, label or status)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
