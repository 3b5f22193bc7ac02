"""Limits on what a request body may be, enforced before any view sees it.

- `BodySizeLimitMiddleware`: a body larger than `API_MAX_BODY_BYTES` is answered 413 from its Content-Length,
  before anything reads it (Django would otherwise raise RequestDataTooBig inside the view: a 500).
- `AdminQueryLimitMiddleware`: an admin page's query parameters (list filters, search) holding a NUL or a lone
  surrogate are a 400 naming the parameter (8 list filters reached PostgreSQL with them: a 500), and the search
  box is bounded to `ADMIN_SEARCH_MAX_WORDS` words and `ADMIN_SEARCH_MAX_LENGTH` characters (each word is a
  filter: 2,000 of them ran for over a minute on the run lists).
- `SafeJSONParser` (the API's only parser): JSON nested deeper than `API_MAX_JSON_DEPTH` is a 400 (100,000
  nested arrays used to exhaust the parser's recursion), and so is any string, key or value, holding a NUL or
  a lone surrogate: PostgreSQL refuses both in text and JSON columns, so they are refused at the edge with the
  place they were found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A NUL, or a UTF-16 surrogate half (only a lone one can reach a Python str from JSON's \\uXXXX escapes).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BodySizeLimitMiddleware:
    """413 in the API's error shape for a body over the limit, judged by its declared length."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    #: Only the frontend API: the admin keeps Django's own limit, and Inngest's step calls carry whole runs.
    path_prefix = "/api/v1/"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(self.path_prefix):
            return self.get_response(request)
        limit = settings.API_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"message": "Content-Length is not a number.", "extra": {}}, status=400)
        if length > limit:
            return JsonResponse(
                {"message": f"The body is larger than {limit} bytes.", "extra": {"limit_bytes": limit}}, status=413
            )
        return self.get_response(request)


ADMIN_SEARCH_MAX_WORDS = 10
ADMIN_SEARCH_MAX_LENGTH = 200


class AdminQueryLimitMiddleware:
    """400 for an admin query parameter PostgreSQL cannot take, or a search past the bounds."""

    path_prefix = "/admin/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(self.path_prefix):
            problem = self.problem(request)
            if problem is not None:
                return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def problem(request: HttpRequest) -> str | None:
        for key, values in request.GET.lists():
            if UNSTORABLE.search(key) or any(UNSTORABLE.search(value) for value in values):
                return f"The query parameter {key!r} holds a NUL character or a lone surrogate."
        search = request.GET.get("q", "")
        if len(search.split()) > ADMIN_SEARCH_MAX_WORDS:
            return f"The search has more than {ADMIN_SEARCH_MAX_WORDS} words."
        if len(search) > ADMIN_SEARCH_MAX_LENGTH:
            return f"The search is longer than {ADMIN_SEARCH_MAX_LENGTH} characters."
        return None


def unstorable_text_at(data: Any, *, max_depth: int) -> tuple[str, str] | None:
    """(JSON path, reason) of the first string PostgreSQL cannot store, or of nesting past `max_depth`."""
    stack: list[tuple[Any, str, int]] = [(data, "$", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > max_depth:
            return path, f"nested deeper than {max_depth} levels"
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                return path, "a NUL character or a lone surrogate"
        elif isinstance(value, dict):
            for key, item in value.items():
                if UNSTORABLE.search(key):
                    return path, "a key with a NUL character or a lone surrogate"
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
    return None


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, refusing what would fail further in (too deep, NUL, lone surrogates) with a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        problem = unstorable_text_at(data, max_depth=settings.API_MAX_JSON_DEPTH)
        if problem is not None:
            path, reason = problem
            raise ParseError(f"JSON parse error - {reason} at {path}.")
        return data
