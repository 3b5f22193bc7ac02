"""Typed query filters of the frontend API (django-filter): a bad value is a 400 naming the parameter.

The OpenAPI parameters come from these FilterSets (drf-spectacular reads them), so the schema and what the
API accepts are the same thing. Django's form fields already refuse a NUL character in text.
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from tenants.models import Category, Contact, HotLeadAlert

# The largest value a PostgreSQL bigint holds: a larger id cannot exist, and would be a database error.
MAX_BIGINT = 2**63 - 1


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no); anything else is refused instead of silently read as "not given"."""

    TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError("Expected true or false.", code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class IntegerFilter(filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes decimals); bounds are checked before the database."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, min_value: int, max_value: int, **kwargs: Any) -> None:
        super().__init__(*args, min_value=min_value, max_value=max_value, **kwargs)
        # The bounds in the schema too, so that what the schema allows is what the API accepts.
        extend_schema_field({"type": "integer", "minimum": min_value, "maximum": max_value})(self)


class ContactFilter(filters.FilterSet):
    category = filters.ChoiceFilter(choices=Category.choices, help_text="Contacts with this category only.")
    archived = BooleanFilter(
        method="filter_archived", help_text="true: archived contacts only; false or absent: active contacts only."
    )
    q = filters.CharFilter(method="search", max_length=200, help_text="Search in first name, last name and email.")
    assigned_agent_id = IntegerFilter(min_value=1, max_value=MAX_BIGINT, help_text="Contacts assigned to this user.")
    min_score = IntegerFilter(
        field_name="intent_score", lookup_expr="gte", min_value=0, max_value=100, help_text="Intent score at least."
    )

    class Meta:
        model = Contact
        fields = ["category", "archived", "q", "assigned_agent_id", "min_score"]

    def filter_queryset(self, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        # Archived contacts are kept but hidden unless asked for: the default applies when the parameter is absent.
        queryset = queryset.filter(is_archived=bool(self.form.cleaned_data.get("archived")))
        return super().filter_queryset(queryset)

    def filter_archived(self, queryset: QuerySet[Contact], name: str, value: bool | None) -> QuerySet[Contact]:
        return queryset  # applied in filter_queryset, so that "absent" means active too

    def search(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(Q(email__icontains=term) | Q(first_name__icontains=term) | Q(last_name__icontains=term))


class AlertFilter(filters.FilterSet):
    acknowledged = BooleanFilter(
        field_name="acknowledged_at", method="filter_acknowledged", help_text="true: acknowledged alerts only."
    )

    class Meta:
        model = HotLeadAlert
        fields = ["acknowledged"]

    def filter_acknowledged(self, queryset: QuerySet[HotLeadAlert], name: str, value: bool) -> QuerySet[HotLeadAlert]:
        return queryset.filter(acknowledged_at__isnull=not value)
