"""The engine tests' URLs with the probes beside them (tests/engine/test_health.py)."""

from __future__ import annotations

from django.urls import path

from nurturehub.health import healthz, readyz

from .urls import urlpatterns as engine_urlpatterns

urlpatterns = [path("healthz", healthz), path("readyz", readyz), *engine_urlpatterns]
