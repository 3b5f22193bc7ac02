"""Cursor pagination: stable pages over large, growing lists (no OFFSET scans, no duplicates on inserts)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class Cursor(CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200
    page_size_query_description = "Rows per page (at least 1; more than 200 gives 200)."
    cursor_query_description = "The `next` or `previous` link's cursor; an unknown cursor is a 404."

    def get_page_size(self, request: Request) -> int:
        """The asked page size; a value that is not a whole number of at least 1 is a 400 (DRF ignores it)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw.strip())
        except ValueError:
            size = 0
        if size < 1 or not raw.strip().isascii():
            raise ValidationError({self.page_size_query_param: ["A whole number of at least 1."]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class ByFiredAt(Cursor):
    ordering = "-fired_at"


class ByStartedAt(Cursor):
    ordering = "-started_at"
