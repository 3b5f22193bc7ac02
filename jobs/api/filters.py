"""Typed filters of the runs API (django-filter); a bad value is a 400 naming the parameter."""

from __future__ import annotations

import django_filters as filters

from jobs.models import JobRun


class RunFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=JobRun.Status.choices, help_text="Runs in this status only.")
    function_id = filters.CharFilter(
        max_length=200, help_text="Runs of this function only (its local id, e.g. `nurture-sequence-generate`)."
    )

    class Meta:
        model = JobRun
        fields = ["status", "function_id"]
