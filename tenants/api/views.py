"""The frontend API (`/api/v1/`): thin views that scope every query to the caller's agency and call services.

Another agency's id is indistinguishable from a missing one (404, never 403).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.models import JobRun
from tenants.models import Contact, HotLeadAlert, NurtureSequence
from tenants.selectors import contact_get
from tenants.services import (
    contact_archive,
    contact_assign_category,
    contact_create,
    contact_update,
    engagement_record,
    hot_lead_alert_acknowledge,
)

from . import serializers as s
from .pagination import ByFiredAt, ByStartedAt
from .tenancy import TENANT_HEADER, request_tenant

ERRORS = {code: s.ErrorSerializer for code in (400, 401, 403, 404, 409)}
TENANT_PARAMETER = OpenApiParameter(
    TENANT_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The agency's slug, for users who belong to several agencies.",
)


class TenantScoped:
    """Views whose every query goes through `self.tenant`, the caller's agency."""

    # Token first, so that a call without credentials gets 401 with `WWW-Authenticate: Token` (not 403).
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    request: Request

    @property
    def tenant(self):
        return request_tenant(self.request)

    def get_contact(self, contact_id: Any) -> Contact:
        return contact_get(tenant=self.tenant, contact_id=contact_id)


def _truthy(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() in {"1", "true", "yes"}


@extend_schema_view(
    get=extend_schema(
        summary="List contacts",
        parameters=[
            TENANT_PARAMETER,
            OpenApiParameter("category", OpenApiTypes.STR, description="A category slug"),
            OpenApiParameter("archived", OpenApiTypes.BOOL, description="Archived contacts only (default: active)"),
            OpenApiParameter("q", OpenApiTypes.STR, description="Search in name and email"),
            OpenApiParameter("assigned_agent_id", OpenApiTypes.INT),
            OpenApiParameter("min_score", OpenApiTypes.INT),
        ],
        responses={200: s.ContactSerializer(many=True), **ERRORS},
    ),
    post=extend_schema(
        summary="Create a contact",
        parameters=[TENANT_PARAMETER],
        request=s.ContactWriteSerializer,
        responses={201: s.ContactSerializer, **ERRORS},
    ),
)
class ContactListCreate(TenantScoped, generics.GenericAPIView):
    serializer_class = s.ContactSerializer

    def get_queryset(self) -> QuerySet[Contact]:
        params = self.request.query_params
        queryset = Contact.objects.for_tenant(self.tenant)
        archived = _truthy(params.get("archived"))
        queryset = queryset.filter(is_archived=bool(archived))
        if params.get("category"):
            queryset = queryset.filter(category=params["category"])
        if params.get("assigned_agent_id", "").isdigit():
            queryset = queryset.filter(assigned_agent_id=int(params["assigned_agent_id"]))
        if params.get("min_score", "").isdigit():
            queryset = queryset.filter(intent_score__gte=int(params["min_score"]))
        if params.get("q"):
            term = params["q"].strip()
            queryset = queryset.filter(
                Q(email__icontains=term) | Q(first_name__icontains=term) | Q(last_name__icontains=term)
            )
        return queryset

    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ContactSerializer(page, many=True).data)

    def post(self, request: Request) -> Response:
        data = _valid(s.ContactWriteSerializer, request.data)
        contact = contact_create(tenant=self.tenant, source=Contact.Source.MANUAL, **data)
        return Response(s.ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="A contact", parameters=[TENANT_PARAMETER], responses={200: s.ContactSerializer, **ERRORS}
    ),
    patch=extend_schema(
        summary="Update a contact",
        parameters=[TENANT_PARAMETER],
        request=s.ContactWriteSerializer(partial=True),
        responses={200: s.ContactSerializer, **ERRORS},
    ),
)
class ContactDetail(TenantScoped, APIView):
    def get(self, request: Request, contact_id: str) -> Response:
        return Response(s.ContactSerializer(self.get_contact(contact_id)).data)

    def patch(self, request: Request, contact_id: str) -> Response:
        contact = self.get_contact(contact_id)
        data = _valid(s.ContactWriteSerializer, request.data, partial=True)
        contact = contact_update(tenant=self.tenant, contact=contact, **data)
        return Response(s.ContactSerializer(contact).data)


class ContactArchive(TenantScoped, APIView):
    @extend_schema(
        summary="Archive a contact (kept, hidden from lists)",
        parameters=[TENANT_PARAMETER],
        request=None,
        responses={200: s.ContactSerializer, **ERRORS},
    )
    def post(self, request: Request, contact_id: str) -> Response:
        contact = contact_archive(tenant=self.tenant, contact=self.get_contact(contact_id))
        return Response(s.ContactSerializer(contact).data)


class ContactAssignCategory(TenantScoped, APIView):
    @extend_schema(
        summary="Assign a category: returns at once (202); the nurture sequence is generated in the background",
        parameters=[TENANT_PARAMETER],
        request=s.CategoryAssignSerializer,
        responses={202: s.CategoryAssignedSerializer, 200: s.CategoryAssignedSerializer, **ERRORS},
    )
    def post(self, request: Request, contact_id: str) -> Response:
        data = _valid(s.CategoryAssignSerializer, request.data)
        contact = self.get_contact(contact_id)
        assignment = contact_assign_category(
            tenant=self.tenant, contact_id=contact.id, category=data["category"], assigned_by=request.user, source="api"
        )
        if assignment is None:
            body = {"changed": False, "category": data["category"], "assignment_id": None, "detail": "unchanged"}
            return Response(body, status=status.HTTP_200_OK)
        body = {
            "changed": True,
            "category": assignment.to_category,
            "assignment_id": assignment.id,
            "detail": "accepted: the nurture sequence will follow",
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    get=extend_schema(
        summary="A contact's nurture sequences with their emails (newest first)",
        parameters=[TENANT_PARAMETER],
        responses={200: s.NurtureSequenceSerializer(many=True), **ERRORS},
    )
)
class ContactSequences(TenantScoped, generics.ListAPIView):
    serializer_class = s.NurtureSequenceSerializer

    def get_queryset(self) -> QuerySet[NurtureSequence]:
        contact = self.get_contact(self.kwargs["contact_id"])
        return NurtureSequence.objects.filter(tenant=self.tenant, contact=contact).prefetch_related("emails")


class EngagementCreate(TenantScoped, APIView):
    @extend_schema(
        summary="Record an engagement (open, click, reply, CRM signal); the contact is re-scored in the background",
        parameters=[TENANT_PARAMETER],
        request=s.EngagementInSerializer,
        responses={201: s.EngagementOutSerializer, 200: s.EngagementOutSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = _valid(s.EngagementInSerializer, request.data)
        recorded = engagement_record(tenant=self.tenant, **data)
        return Response(
            s.EngagementOutSerializer(recorded.event).data,
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


@extend_schema_view(
    get=extend_schema(
        summary="Hot-lead alerts (newest first)",
        parameters=[TENANT_PARAMETER, OpenApiParameter("acknowledged", OpenApiTypes.BOOL)],
        responses={200: s.HotLeadAlertSerializer(many=True), **ERRORS},
    )
)
class AlertList(TenantScoped, generics.ListAPIView):
    serializer_class = s.HotLeadAlertSerializer
    pagination_class = ByFiredAt

    def get_queryset(self) -> QuerySet[HotLeadAlert]:
        queryset = HotLeadAlert.objects.filter(tenant=self.tenant)
        acknowledged = _truthy(self.request.query_params.get("acknowledged"))
        if acknowledged is not None:
            queryset = queryset.filter(acknowledged_at__isnull=not acknowledged)
        return queryset


class AlertAcknowledge(TenantScoped, APIView):
    @extend_schema(
        summary="Acknowledge an alert with its outcome; idempotent (acknowledging again changes nothing)",
        parameters=[TENANT_PARAMETER],
        request=s.AlertAcknowledgeSerializer,
        responses={200: s.HotLeadAlertSerializer, **ERRORS},
    )
    def post(self, request: Request, alert_id: str) -> Response:
        data = _valid(s.AlertAcknowledgeSerializer, request.data)
        alert = hot_lead_alert_acknowledge(
            tenant=self.tenant, alert_id=_uuid_or_404(alert_id), user=request.user, outcome=data["outcome"]
        )
        return Response(s.HotLeadAlertSerializer(alert).data)


@extend_schema_view(
    get=extend_schema(
        summary="The agency's background job runs and their status (newest first)",
        parameters=[
            TENANT_PARAMETER,
            OpenApiParameter("status", OpenApiTypes.STR, enum=JobRun.Status.values),
            OpenApiParameter("function_id", OpenApiTypes.STR),
        ],
        responses={200: s.JobRunSerializer(many=True), **ERRORS},
    )
)
class RunList(TenantScoped, generics.ListAPIView):
    serializer_class = s.JobRunSerializer
    pagination_class = ByStartedAt

    def get_queryset(self) -> QuerySet[JobRun]:
        queryset = JobRun.objects.filter(tenant=self.tenant)
        params = self.request.query_params
        if params.get("status"):
            queryset = queryset.filter(status=params["status"])
        if params.get("function_id"):
            queryset = queryset.filter(function_id=params["function_id"])
        return queryset


class RunDetail(TenantScoped, APIView):
    @extend_schema(
        summary="One run with its step attempts",
        parameters=[TENANT_PARAMETER],
        responses={200: s.JobRunDetailSerializer, **ERRORS},
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = JobRun.objects.filter(tenant=self.tenant, run_id=run_id).prefetch_related("step_attempts").first()
        if run is None:
            raise NotFound()
        return Response(s.JobRunDetailSerializer(run).data)


def _valid(serializer_class: type, data: Any, *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _uuid_or_404(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound() from None
