"""What the run page links to: its contact, sequence, CRM sync log, parent and replay runs, and the setting to fix.

The thread an operator follows from a failed run to its cause and fix, each as a link (never an id to copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from crm_adapters.models import CrmConnection
from jobs.models import EventLog, JobRun, RunReplay
from tenants.models import Contact, NurtureSequence


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    note: str = ""


def _contact_of(run: JobRun, event: EventLog | None) -> Contact | None:
    contact_id = (event.payload or {}).get("contactId") if event is not None else None
    if not contact_id or run.tenant_id is None:
        return None
    try:
        return Contact.objects.filter(pk=contact_id, tenant_id=run.tenant_id).first()
    except Exception:  # a malformed id in an old payload
        return None


def emitted_by(event: EventLog | None) -> JobRun | None:
    """The run whose step emitted this event (`source` is `run:<run id>`)."""
    if event is None or not event.source.startswith("run:"):
        return None
    return JobRun.objects.filter(run_id=event.source.removeprefix("run:")).first()


#: Causes that say the provider refused our credentials: rotating them is the fix.
_AUTH_CAUSES = ("CrmAuthError", "openai.AuthenticationError", "openai.PermissionDeniedError")


def setting_for_cause(run: JobRun) -> Link | None:
    """What to do about the failure's cause, with the page to do it on: the CRM connection (rotate the key, fix
    the URL), the pause switch, or, for a provider outage, nothing but wait and replay every failure it caused."""
    cause = run.error_type or ""
    if run.tenant_id is None or not cause:
        return None
    tenant_url = reverse("admin:tenants_tenant_change", args=[run.tenant_id])
    same_cause = f"{reverse('admin:jobs_failedjobrun_changelist')}?{urlencode({'error_type': cause})}"
    if cause.startswith(("Crm", "httpx.")) or run.function_id.startswith("crm-"):
        connection = CrmConnection.objects.filter(tenant_id=run.tenant_id).first()
        if connection is None:
            return Link("CRM connection (none)", f"{tenant_url}#crm-connection", "connect a CRM first")
        label = f"CRM connection ({connection.get_provider_display()}, {connection.status})"
        url = reverse("admin:crm_adapters_crmconnection_change", args=[connection.pk])
        if cause in _AUTH_CAUSES:
            return Link(
                label,
                url,
                "the CRM refused the credentials (401/403): rotate the key or token, test, save, then replay",
            )
        return Link(
            label,
            url,
            "the CRM could not be reached or failed: check the base URL and test; if the CRM is "
            "down, wait until it answers, then replay",
        )
    if cause == "TenantPaused":
        return Link("Pause switch of the agency", f"{tenant_url}#background-jobs", "turn it off, then replay")
    if cause in _AUTH_CAUSES:
        return Link(
            "AI provider key",
            "",
            "the provider refused the key (401): rotate OPENAI_API_KEY in the environment (shared by every agency), "
            "restart, then replay",
        )
    if cause.startswith("openai."):
        return Link(
            "Every open failure with this cause",
            same_cause,
            "the AI provider was down or overloaded: nothing to change here; wait until it answers again, then "
            "replay them all at once",
        )
    return None


def failure_state_of(run: JobRun, replays: list[RunReplay], replay_runs: dict[str, JobRun]) -> str:
    """open, replaying, resolved, open-again (its last replay failed or started no run), dismissed, or empty."""
    if run.status != JobRun.Status.FAILED:
        return ""
    if run.dismissed_at:
        return "dismissed"
    if any(replay_runs.get(r.run_id) and replay_runs[r.run_id].status == JobRun.Status.COMPLETED for r in replays):
        return "resolved"
    if not replays:
        return "open"
    latest = replays[-1]
    if latest.state == RunReplay.State.REFUSED:
        return "open-again"
    replay_run = replay_runs.get(latest.run_id)
    if latest.state == RunReplay.State.STARTED and replay_run and replay_run.status in RunReplay.RUN_FINISHED:
        return "open-again"
    return "replaying"


def run_links(run: JobRun) -> dict[str, object]:
    event = (
        EventLog.objects.filter(pk=run.event_log_id).select_related("replay_of").first() if run.event_log_id else None
    )
    contact = _contact_of(run, event)
    links: list[Link] = []
    if contact is not None:
        links.append(
            Link(
                f"Contact: {contact.full_name or contact.email}",
                reverse("admin:tenants_contact_change", args=[contact.pk]),
                contact.email,
            )
        )
        sequence = (
            NurtureSequence.objects.filter(tenant_id=run.tenant_id, contact=contact).order_by("-created_at").first()
        )
        if sequence is not None:
            links.append(
                Link(
                    f"Sequence ({sequence.get_category_display()}, {sequence.status})",
                    reverse("admin:tenants_nurturesequence_change", args=[sequence.pk]),
                )
            )
        crm_log = reverse("admin:crm_adapters_crmsynclog_changelist")
        links.append(
            Link(
                "CRM sync log of this contact",
                f"{crm_log}?{urlencode({'tenant__id__exact': run.tenant_id, 'q': str(contact.pk)})}",
            )
        )
    parent = emitted_by(event)
    if parent is not None:
        links.append(
            Link(
                f"Emitted by run {parent.run_id}",
                reverse("admin:jobs_jobrun_change", args=[parent.pk]),
                parent.function_id,
            )
        )
    replay_parent = run.replay_parent()
    replays = list(RunReplay.objects.filter(original=run).order_by("requested_at", "id")[:50])
    replay_runs = JobRun.objects.in_bulk([replay.run_id for replay in replays if replay.run_id], field_name="run_id")
    return {
        "failure_state": "replay" if replay_parent is not None else failure_state_of(run, replays, replay_runs),
        "event": event,
        "contact": contact,
        "links": links,
        "setting": setting_for_cause(run),
        "replay_parent": replay_parent,
        "replays": [(replay, replay_runs.get(replay.run_id)) for replay in replays],
    }
