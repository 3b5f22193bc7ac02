"""The monitoring admin: event log, runs and failed runs (a worklist), the run page, the dashboard, replays.

Everything is read-only; the only writes are confirmed actions (jobs/admin/confirmations.py): replays
(`jobs.replay_jobrun`, a rerun through jobs/replay.py), dismissals of failures (same permission) and cancels
(`jobs.cancel_jobrun`, through the Inngest server: jobs/cancel.py).

- base.py: the read-only mixin, badges, durations; filters.py; search.py (one search for ids, emails, names);
- event_log.py; runs.py (lists, run page, actions); replays.py (a failure's state, the replay's confirmation);
  run_page.py (its links); timeline.py (`run_timeline`);
- dashboard.py; HTML in templates/admin/jobs/.
"""

from __future__ import annotations

from django.contrib import admin

from . import event_log, runs  # noqa: F401 - registers the admins

# The admin index shows the monitoring links first (templates/admin/nurturehub_index.html).
admin.site.index_template = "admin/nurturehub_index.html"
admin.site.site_header = "NurtureHub operations"
admin.site.site_title = "NurtureHub operations"  # every page's <title> ends with it, not "Django site admin"
admin.site.index_title = "Operations"
admin.site.site_url = None  # no "View site": the project serves no site at "/" (the frontend is elsewhere)
# The app list is on the index page; at 1440 px the run lists and timelines need the sidebar's width.
admin.site.enable_nav_sidebar = False
