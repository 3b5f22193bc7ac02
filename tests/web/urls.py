"""The project's URLs plus one test-only view that waits on a slow upstream, as a step waits on an AI provider."""

from __future__ import annotations

import httpx
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def wait_on_upstream(request: HttpRequest) -> HttpResponse:
    port = int(request.GET["port"])  # only ever the test's own loopback server
    answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=120)
    return HttpResponse(answer.text, status=answer.status_code)


urlpatterns = [path("test-upstream/", wait_on_upstream), path("", include("nurturehub.urls"))]
