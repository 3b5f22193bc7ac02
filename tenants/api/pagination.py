"""Cursor pagination: stable pages over large, growing lists (no OFFSET scans, no duplicates on inserts)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200


class ByFiredAt(Cursor):
    ordering = "-fired_at"


class ByStartedAt(Cursor):
    ordering = "-started_at"
