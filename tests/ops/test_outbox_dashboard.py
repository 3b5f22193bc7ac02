"""The admin's dashboard shows the outbox: events Inngest has not accepted yet, and how old the oldest is."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from jobs.models import EventLog


def test_dashboard_shows_pending_events_and_the_oldest_age(client, operator, tenant, make_event_log):
    make_event_log(tenant=tenant)  # sent: not counted
    for minutes in (3, 45):
        row = make_event_log(tenant=tenant, status=EventLog.Status.PENDING)
        EventLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))
    client.force_login(operator)

    body = client.get(reverse("admin:jobs_jobrun_dashboard")).content.decode()

    assert 'id="nh-outbox-pending">2<' in body
    assert 'id="nh-outbox-oldest">oldest 45.0 min<' in body
    assert f"{reverse('admin:jobs_eventlog_changelist')}?status__exact=pending" in body
