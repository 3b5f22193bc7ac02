"""`/api/`: the versioned frontend API, its OpenAPI schema (drf-spectacular) and a token endpoint."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from tenants.api.views import TokenObtain

urlpatterns = [
    path("v1/", include("tenants.api.urls")),
    path("v1/", include("jobs.api.urls")),
    path("v1/auth/token/", TokenObtain.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
