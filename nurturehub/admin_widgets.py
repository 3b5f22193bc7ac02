"""Form fields for JSON settings edited as rows: a list as one input per item, a mapping as one input per key.

Operators never type JSON: a tenant's vocabulary, alert recipients and email delays, its category multipliers and
a CRM's office ids or category mapping are rows of ordinary inputs. Each row is validated by an ordinary form
field, and an error names its row. Shared by the tenant and CRM connection admins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join

ADD_ROW_SCRIPT = (
    "var rows=this.parentNode, last=rows.querySelector('.nh-row:last-of-type');"
    "var copy=last.cloneNode(true); copy.querySelector('input').value=''; rows.insertBefore(copy, this);"
)


class ListRowsWidget(forms.Widget):
    """One input per item, a few empty rows and an "Add a row" button (inline JS: no build step)."""

    def __init__(self, *, input_type: str = "text", extra: int = 2, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.input_type = input_type
        self.extra = extra

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        items = [str(item) for item in value] if isinstance(value, list | tuple) else []
        rows = items + [""] * self.extra
        element_id = (attrs or {}).get("id", f"id_{name}")
        inputs = format_html_join(
            "",
            '<div class="nh-row"><input type="{}" name="{}" value="{}" aria-label="{} row {}"></div>',
            ((self.input_type, name, item, name, index + 1) for index, item in enumerate(rows)),
        )
        return format_html(
            '<div class="nh-rows" id="{}">{}<button type="button" class="button nh-add-row" onclick="{}">'
            "Add a row</button></div>",
            element_id,
            inputs,
            ADD_ROW_SCRIPT,
        )

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        return data.getlist(name) if hasattr(data, "getlist") else list(data.get(name) or [])

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # no rows posted means an empty list, not "keep the old value"


class ListRowsField(forms.Field):
    """A list whose items are cleaned by `item_field`; blank rows are dropped; errors say which row."""

    def __init__(
        self,
        *,
        item_field: forms.Field,
        input_type: str = "text",
        min_items: int = 0,
        max_items: int = 100,
        extra: int = 2,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", ListRowsWidget(input_type=input_type, extra=extra))
        super().__init__(**kwargs)
        self.item_field = item_field
        self.min_items = min_items
        self.max_items = max_items

    def to_python(self, value: Any) -> list[Any]:
        raw = [str(item).strip() for item in (value or [])]
        cleaned: list[Any] = []
        errors: list[str] = []
        for index, item in enumerate(raw, start=1):
            if not item:
                continue
            try:
                cleaned.append(self.item_field.clean(item))
            except forms.ValidationError as error:
                errors.append(f"Row {index}: {' '.join(error.messages)}")
        if errors:
            raise forms.ValidationError(errors)
        if len(cleaned) < self.min_items:
            raise forms.ValidationError(f"Give at least {self.min_items} row(s).")
        if len(cleaned) > self.max_items:
            raise forms.ValidationError(f"At most {self.max_items} rows.")
        return cleaned

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


class MappingRowsWidget(forms.Widget):
    """One labelled input per known key (e.g. per contact category); blank means "not set"."""

    def __init__(self, *, keys: Sequence[tuple[str, str]], input_type: str = "text", **kwargs: Any) -> None:
        super().__init__(kwargs.get("attrs"))
        self.keys = list(keys)
        self.input_type = input_type

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        values = value if isinstance(value, dict) else {}
        element_id = (attrs or {}).get("id", f"id_{name}")
        rows = format_html_join(
            "",
            '<tr><th><label for="{}__{}">{}</label></th><td><input type="{}" step="any" id="{}__{}" name="{}__{}" '
            'value="{}"></td></tr>',
            (
                (element_id, key, label, self.input_type, element_id, key, name, key, values.get(key, ""))
                for key, label in self.keys
            ),
        )
        return format_html('<table class="nh-mapping" id="{}"><tbody>{}</tbody></table>', element_id, rows)

    def value_from_datadict(self, data: Any, files: Any, name: str) -> dict[str, str]:
        return {key: data.get(f"{name}__{key}", "") for key, _ in self.keys}

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False


class MappingRowsField(forms.Field):
    """A mapping from known keys to values cleaned by `value_field`; blank rows are left out."""

    def __init__(
        self, *, keys: Sequence[tuple[str, str]], value_field: forms.Field, input_type: str = "text", **kwargs: Any
    ) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", MappingRowsWidget(keys=keys, input_type=input_type))
        super().__init__(**kwargs)
        self.keys = list(keys)
        self.value_field = value_field

    def to_python(self, value: Any) -> dict[str, Any]:
        raw = value if isinstance(value, dict) else {}
        cleaned: dict[str, Any] = {}
        errors: list[str] = []
        for key, label in self.keys:
            item = str(raw.get(key, "")).strip()
            if not item:
                continue
            try:
                cleaned[key] = self.value_field.clean(item)
            except forms.ValidationError as error:
                errors.append(f"{label}: {' '.join(error.messages)}")
        if errors:
            raise forms.ValidationError(errors)
        return cleaned
