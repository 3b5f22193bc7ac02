from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from ulid import ULID

from jobs.models import JobRun, StepAttempt
from tenants.models import HotLeadAlert, Membership, NurtureEmail, NurtureSequence
from tests.factories import MembershipFactory


@pytest.fixture
def member(tenant):
    return MembershipFactory(tenant=tenant, role=Membership.Role.AGENT).user


@pytest.fixture
def api(member) -> APIClient:
    """An API client authenticated with the member's token (as the frontend does)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member).key}")
    return client


@pytest.fixture
def make_sequence(db):
    def make(*, contact, category="seller"):
        sequence = NurtureSequence.objects.create(
            tenant=contact.tenant, contact=contact, category=category, status=NurtureSequence.Status.DRAFT
        )
        for position in (1, 2, 3):
            NurtureEmail.objects.create(
                sequence=sequence,
                position=position,
                subject=f"Email {position}",
                preview_text="preview",
                body_html="<p>hi</p>",
                body_text="hi",
                send_delay_days=[0, 3, 7][position - 1],
            )
        return sequence

    return make


@pytest.fixture
def make_alert(db):
    def make(*, contact):
        return HotLeadAlert.objects.create(
            tenant=contact.tenant,
            contact=contact,
            score=85,
            threshold=80,
            breakdown={"email.click": 45},
            recipients=["agent@example.co.uk"],
            source_event_id=str(ULID()),
            fired_at=timezone.now(),
        )

    return make


@pytest.fixture
def make_job_run(db):
    def make(*, tenant, status=JobRun.Status.FAILED):
        run = JobRun.objects.create(
            run_id=str(ULID()),
            function_id="nurture-sequence-generate",
            tenant=tenant,
            event_name="nurture/sequence.generate",
            status=status,
            error={"name": "RateLimited", "message": "RateLimited: 429"} if status == "failed" else None,
            error_type="RateLimited" if status == "failed" else "",
            started_at=timezone.now() - timedelta(minutes=1),
        )
        StepAttempt.objects.create(
            run=run,
            step_id="call-ai",
            attempt=1,
            status=StepAttempt.Status.EXHAUSTED,
            error="RateLimited: 429",
            traceback="Traceback (internal details)",
            started_at=run.started_at,
        )
        return run

    return make
