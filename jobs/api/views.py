"""The runs API: an agency's background job runs and their steps, scoped to the caller's agency."""

from __future__ import annotations

import re

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.models import JobRun
from tenants.api.pagination import ByStartedAt
from tenants.api.schema import TENANT_PARAMETER, error_responses
from tenants.api.tenancy import TenantScoped

from .filters import RunFilter
from .serializers import JobRunDetailSerializer, JobRunSerializer

#: Inngest run ids are ULIDs; anything else (a NUL, 10 KB of text) names no run and never reaches the database.
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@extend_schema_view(
    get=extend_schema(
        summary="List the agency's job runs",
        description=(
            "The agency's background job runs (AI generation, CRM sync, scoring, alerts), newest first, with "
            "their status and, for a failed run, the error type and message. Cursor-paginated; filter by status "
            "or function."
        ),
        parameters=[TENANT_PARAMETER],
        responses={200: JobRunSerializer(many=True), **error_responses(404)},
    )
)
class RunList(TenantScoped, generics.ListAPIView):
    serializer_class = JobRunSerializer
    pagination_class = ByStartedAt
    filterset_class = RunFilter

    def get_queryset(self) -> QuerySet[JobRun]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the filters: no request
            return JobRun.objects.none()
        return JobRun.objects.filter(tenant=self.tenant)


class RunDetail(TenantScoped, APIView):
    @extend_schema(
        summary="A job run with its step attempts",
        description=(
            "One run of the agency and every attempt of each of its steps (status, duration, error, next retry). "
            "Tracebacks are never included. Another agency's run is a 404."
        ),
        parameters=[TENANT_PARAMETER],
        responses={200: JobRunDetailSerializer, **error_responses(404)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        if not RUN_ID.fullmatch(run_id):
            raise NotFound()
        run = JobRun.objects.filter(tenant=self.tenant, run_id=run_id).prefetch_related("step_attempts").first()
        if run is None:
            raise NotFound()
        return Response(JobRunDetailSerializer(run).data)
