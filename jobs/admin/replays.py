"""The worklist's replay parts: a failed run's state in the lists, the replay's confirmation and its report."""

from __future__ import annotations

from collections import Counter

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from jobs.models import JobRun, RunReplay
from jobs.replay import replay_originals, replay_refusal

from .base import status_badge
from .confirmations import Confirmation


def failure_state(run: JobRun) -> str:
    """open / replaying / resolved / open again (its replay failed or was refused) / dismissed, for a failed run
    of an annotated list (JobRunAdmin.get_queryset); a failed replay links the run it replays."""
    if run.status != JobRun.Status.FAILED:
        return "-"
    if getattr(run, "replay_of_pk", None):
        return format_html(
            '{} of <a href="{}">{}</a>',
            status_badge("cancelled", "replay"),
            reverse("admin:jobs_jobrun_change", args=[run.replay_of_pk]),
            "its original",
        )
    if run.dismissed_at:
        return status_badge("cancelled", "dismissed")
    state, reason = getattr(run, "replay_state", None), getattr(run, "replay_reason", "") or ""
    if state == RunReplay.State.REFUSED:
        return format_html('{} <span class="quiet">replay refused: {}</span>', status_badge("failed", "open"), reason)
    if state == RunReplay.State.REQUESTED:
        return status_badge("running", "replaying")
    if state != RunReplay.State.STARTED:
        return status_badge("failed", "open")
    replay_status = getattr(run, "replay_run_status", None) or ""
    label = {"completed": "resolved"}.get(replay_status) or (
        "open" if replay_status in RunReplay.RUN_FINISHED else "replaying"
    )
    link_text = {"failed": "its replay failed", "cancelled": "its replay was cancelled"}.get(replay_status, "replay")
    badge = status_badge({"open": "failed", "resolved": "completed"}.get(label, "running"), label)
    if not run.replay_pk:  # started, not yet seen by run tracking
        return format_html('{} <span class="quiet">run {}</span>', badge, run.replay_run_id)
    return format_html(
        '{} <a href="{}">{}</a>', badge, reverse("admin:jobs_jobrun_change", args=[run.replay_pk]), link_text
    )


def run_replay_confirmation(title: str, runs: list[JobRun]) -> Confirmation:
    """What a replay will do: the runs that will be replayed (originals) and why any other will not."""
    originals = replay_originals(runs=runs)
    refusals = {run.pk: replay_refusal(run) for run in originals}
    ready = [run for run in originals if refusals[run.pk] is None]
    return Confirmation(
        title=title,
        container_id="nh-replay-confirmation",
        summary_template="admin/jobs/_run_replay_summary.html",
        confirm_label=f"Yes, replay {len(ready)} run{'s' if len(ready) != 1 else ''}",
        confirm_id="nh-confirm-replay",
        skipped=[reason for reason in refusals.values() if reason][:50],
        blocked="" if ready else "Nothing to replay.",
        context={
            "by_function": sorted(Counter(run.function_id for run in ready).items()),
            "runs_count": len(ready),
            "selected": len(runs),
        },
    )


def report_run_replay(model_admin: admin.ModelAdmin, request: HttpRequest, result) -> None:
    if result.started:
        model_admin.message_user(
            request,
            f"Replayed {len(result.started)} run(s): one new run of each function, with the original event "
            f"({', '.join(replay.run_id for replay in result.started[:5])}). The failures read "
            "*replaying* until those runs finish.",
            messages.SUCCESS,
        )
    if result.refused:
        model_admin.message_user(
            request,
            f"No run started for {len(result.refused)} replay(s); those failures stay open: "
            + "; ".join(f"run {replay.original.run_id}: {replay.reason}" for replay in result.refused[:5]),
            messages.ERROR,
        )
    if result.skipped:
        model_admin.message_user(
            request, f"Not replayed ({len(result.skipped)}): " + "; ".join(result.skipped[:5]), messages.WARNING
        )
    if not (result.started or result.refused or result.skipped):
        model_admin.message_user(request, "Nothing to replay.", messages.INFO)
