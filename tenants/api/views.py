"""The frontend API (`/api/v1/`): thin views that scope every query to the caller's agency and call services.

Another agency's id is indistinguishable from a missing one (404, never 403).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nurturehub.request_limits import SafeJSONParser
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
from .filters import AlertFilter, ContactFilter
from .pagination import ByFiredAt
from .schema import BODY_ERRORS, ERROR_MEANINGS, TENANT_PARAMETER, error_responses
from .tenancy import TenantScoped


class ContactScoped(TenantScoped):
    def get_contact(self, contact_id: Any) -> Contact:
        return contact_get(tenant=self.tenant, contact_id=contact_id)


@extend_schema_view(
    get=extend_schema(
        summary="List contacts",
        description=(
            "The agency's contacts, newest first (cursor-paginated). Archived contacts are hidden unless "
            "`archived=true`; filter by category, assigned agent, minimum intent score, or a search term."
        ),
        parameters=[TENANT_PARAMETER],
        responses={200: s.ContactSerializer(many=True), **error_responses(404)},
    ),
    post=extend_schema(
        summary="Create a contact",
        description=(
            "A new contact of the agency (source `manual`). The email must be unique in the agency (409 if "
            "taken); the assigned agent must be a member of the agency."
        ),
        parameters=[TENANT_PARAMETER],
        request=s.ContactWriteSerializer,
        responses={201: s.ContactSerializer, **error_responses(409, *BODY_ERRORS)},
    ),
)
class ContactListCreate(ContactScoped, generics.GenericAPIView):
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter

    def get_queryset(self) -> QuerySet[Contact]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the filters: no request
            return Contact.objects.none()
        return Contact.objects.for_tenant(self.tenant)

    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.ContactSerializer(page, many=True).data)

    def post(self, request: Request) -> Response:
        data = _valid(s.ContactWriteSerializer, request.data)
        contact = contact_create(tenant=self.tenant, source=Contact.Source.MANUAL, **data)
        return Response(s.ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="A contact",
        description="One contact of the agency, archived or not. Another agency's contact is a 404.",
        parameters=[TENANT_PARAMETER],
        responses={200: s.ContactSerializer, **error_responses(404)},
    ),
    patch=extend_schema(
        summary="Update a contact",
        description=(
            "Changes the given fields only. The category is not changed here (see the category endpoint, "
            "which starts the nurture sequence); an email already used by another contact is a 409."
        ),
        parameters=[TENANT_PARAMETER],
        request=s.ContactWriteSerializer(partial=True),
        responses={200: s.ContactSerializer, **error_responses(404, 409, *BODY_ERRORS)},
    ),
)
class ContactDetail(ContactScoped, APIView):
    def get(self, request: Request, contact_id: str) -> Response:
        return Response(s.ContactSerializer(self.get_contact(contact_id)).data)

    def patch(self, request: Request, contact_id: str) -> Response:
        contact = self.get_contact(contact_id)
        data = _valid(s.ContactWriteSerializer, request.data, partial=True)
        contact = contact_update(tenant=self.tenant, contact=contact, **data)
        return Response(s.ContactSerializer(contact).data)


class ContactArchive(ContactScoped, APIView):
    @extend_schema(
        summary="Archive a contact",
        description=(
            "The contact is kept with its history but hidden from lists (see `archived=true`). Archiving an "
            "archived contact changes nothing."
        ),
        parameters=[TENANT_PARAMETER],
        request=None,
        responses={200: s.ContactSerializer, **error_responses(404)},
    )
    def post(self, request: Request, contact_id: str) -> Response:
        contact = contact_archive(tenant=self.tenant, contact=self.get_contact(contact_id))
        return Response(s.ContactSerializer(contact).data)


class ContactAssignCategory(ContactScoped, APIView):
    @extend_schema(
        summary="Assign a category",
        description=(
            "Returns at once: 202 when the category changed (the history row is written and the nurture "
            "sequence is generated in the background), 200 when the contact already had it (nothing happens)."
        ),
        parameters=[TENANT_PARAMETER],
        request=s.CategoryAssignSerializer,
        responses={
            202: OpenApiResponse(s.CategoryAssignedSerializer, description="Changed: the sequence will follow."),
            200: OpenApiResponse(s.CategoryAssignedSerializer, description="Unchanged: it had this category."),
            **error_responses(404, *BODY_ERRORS),
        },
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
        summary="A contact's nurture sequences",
        description=(
            "Every nurture sequence generated for the contact, newest first, each with its three emails. A "
            "superseded sequence (the category changed since) is listed with its status."
        ),
        parameters=[TENANT_PARAMETER],
        responses={200: s.NurtureSequenceSerializer(many=True), **error_responses(404)},
    )
)
class ContactSequences(ContactScoped, generics.ListAPIView):
    serializer_class = s.NurtureSequenceSerializer

    def get_queryset(self) -> QuerySet[NurtureSequence]:
        if getattr(self, "swagger_fake_view", False):
            return NurtureSequence.objects.none()
        contact = self.get_contact(self.kwargs["contact_id"])
        return NurtureSequence.objects.filter(tenant=self.tenant, contact=contact).prefetch_related("emails")


class EngagementCreate(ContactScoped, APIView):
    @extend_schema(
        summary="Record an engagement",
        description=(
            "An email open, click or reply, or a CRM signal, for one of the agency's contacts; the contact's "
            "intent score is recomputed in the background. `occurred_at` must carry its time zone. Sending the "
            "same `provider_event_id` again returns the recorded engagement (200) instead of a second one (201)."
        ),
        parameters=[TENANT_PARAMETER],
        request=s.EngagementInSerializer,
        responses={
            201: OpenApiResponse(s.EngagementOutSerializer, description="Recorded."),
            200: OpenApiResponse(s.EngagementOutSerializer, description="Already recorded (same provider event)."),
            **error_responses(404, *BODY_ERRORS),
        },
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
        summary="List hot-lead alerts",
        description=(
            "Alerts fired when a contact's intent score crossed the agency's threshold, newest first "
            "(cursor-paginated), with the score breakdown; filter by whether they were acknowledged."
        ),
        parameters=[TENANT_PARAMETER],
        responses={200: s.HotLeadAlertSerializer(many=True), **error_responses(404)},
    )
)
class AlertList(TenantScoped, generics.ListAPIView):
    serializer_class = s.HotLeadAlertSerializer
    pagination_class = ByFiredAt
    filterset_class = AlertFilter

    def get_queryset(self) -> QuerySet[HotLeadAlert]:
        if getattr(self, "swagger_fake_view", False):
            return HotLeadAlert.objects.none()
        return HotLeadAlert.objects.filter(tenant=self.tenant)


class AlertAcknowledge(TenantScoped, APIView):
    @extend_schema(
        summary="Acknowledge an alert",
        description=(
            "Records the outcome of following the alert up. Idempotent: the same outcome again returns the "
            "alert unchanged; a different outcome after acknowledgement is a 409 naming the recorded one."
        ),
        parameters=[TENANT_PARAMETER],
        request=s.AlertAcknowledgeSerializer,
        responses={200: s.HotLeadAlertSerializer, **error_responses(404, 409, *BODY_ERRORS)},
    )
    def post(self, request: Request, alert_id: str) -> Response:
        data = _valid(s.AlertAcknowledgeSerializer, request.data)
        alert = hot_lead_alert_acknowledge(
            tenant=self.tenant, alert_id=_uuid_or_404(alert_id), user=request.user, outcome=data["outcome"]
        )
        return Response(s.HotLeadAlertSerializer(alert).data)


@extend_schema(
    summary="Obtain an API token",
    description=(
        "Exchanges a username and password for the user's API token (the same token each time), to send as "
        "`Authorization: Token <key>`."
    ),
    request=AuthTokenSerializer,
    responses={
        200: OpenApiResponse(s.TokenSerializer, description="The user's token."),
        400: OpenApiResponse(s.ErrorSerializer, description="Wrong or missing username or password."),
        413: OpenApiResponse(s.ErrorSerializer, description=ERROR_MEANINGS[413]),
        415: OpenApiResponse(s.ErrorSerializer, description="The body is neither JSON nor a form."),
    },
)
class TokenObtain(ObtainAuthToken):
    """DRF's token view, with the API's parsers (JSON, or a form) and its schema stated in full."""

    parser_classes = [SafeJSONParser, FormParser]


def _valid(serializer_class: type, data: Any, *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _uuid_or_404(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound() from None
