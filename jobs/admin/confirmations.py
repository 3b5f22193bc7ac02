"""One confirmation page for every action that changes something: replay, cancel, dismiss.

An action first answers with this page (what will happen, what is skipped and why); the page posts the same
action back with `confirm=yes`, the same selection (or "select all"), and for a dismissal the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest
from django.template.response import TemplateResponse


@dataclass
class Confirmation:
    title: str
    container_id: str  # e.g. nh-replay-confirmation: what tests and the browser find the page by
    summary_template: str  # what will happen, rendered with `context`
    confirm_label: str
    confirm_id: str
    skipped: list[str] = field(default_factory=list)
    blocked: str = ""  # why the action cannot go ahead as selected (then there is no confirm button)
    ask_reason: bool = False
    context: dict[str, Any] = field(default_factory=dict)


def action_hidden(request: HttpRequest, action: str) -> dict[str, Any]:
    """The POST fields that make Django run the same action again on the same selection, once confirmed."""
    return {
        "action": action,
        "select_across": request.POST.get("select_across", "0"),
        "index": request.POST.get("index", "0"),
        "_selected_ids": request.POST.getlist(ACTION_CHECKBOX_NAME),
    }


def is_confirmed(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def confirm_action(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    confirmation: Confirmation,
    *,
    hidden: dict[str, Any] | None = None,
) -> TemplateResponse:
    hidden = dict(hidden or {})
    context = {
        **model_admin.admin_site.each_context(request),
        **confirmation.context,
        "title": confirmation.title,
        "opts": model_admin.model._meta,
        "confirmation": confirmation,
        "skipped": confirmation.skipped[:50],
        "skipped_count": len(confirmation.skipped),
        "selected_ids": hidden.pop("_selected_ids", []),
        "hidden": hidden,
    }
    return TemplateResponse(request, "admin/jobs/confirmation.html", context)
