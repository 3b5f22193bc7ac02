"""Tenant and contact services: one transaction each, events after commit, never across tenants."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.models import EventLog
from tenants.errors import (
    AgentNotInTenant,
    ContactEmailTaken,
    ContactNotFound,
    ContactOfAnotherTenant,
    UnknownCategory,
)
from tenants.models import CategoryAssignment, Contact
from tenants.selectors import contact_get
from tenants.services import (
    contact_archive,
    contact_assign_category,
    contact_create,
    contact_update,
    contact_upsert_by_email,
    tenant_create,
)


def test_tenant_create__adds_the_owner_membership(db, make_user):
    owner = make_user()
    tenant = tenant_create(name="Northgate Lettings", slug="northgate", brand_voice="Calm.", owner=owner)
    assert tenant.memberships.get().user == owner
    assert tenant.memberships.get().role == "owner"
    assert (tenant.warm_threshold, tenant.hot_threshold, tenant.timezone) == (60, 80, "Europe/London")


def test_contact_email_is_unique_per_tenant_case_insensitively(tenant, other_tenant):
    contact_create(tenant=tenant, first_name="Ada", last_name="Lovelace", email="Ada@Example.co.uk")
    with pytest.raises(ContactEmailTaken):
        contact_create(tenant=tenant, first_name="A", last_name="L", email="ada@example.CO.UK")
    # Another agency may hold the same person.
    contact_create(tenant=other_tenant, first_name="Ada", last_name="Lovelace", email="ada@example.co.uk")
    assert Contact.objects.filter(email__iexact="ada@example.co.uk").count() == 2


def test_contact_create__refuses_an_invalid_email(tenant):
    with pytest.raises(ValidationError) as raised:
        contact_create(tenant=tenant, first_name="A", last_name="B", email="not-an-email")
    assert raised.value.message_dict == {"email": ["Enter a valid email address."]}
    assert not Contact.objects.exists()


def test_contact_create__refuses_an_agent_of_another_tenant(tenant, other_tenant, make_user):
    outsider = make_user()
    other_tenant.memberships.create(user=outsider, role="agent")
    with pytest.raises(AgentNotInTenant):
        contact_create(tenant=tenant, first_name="A", last_name="B", email="a@b.co.uk", assigned_agent_id=outsider.pk)


def test_upsert_by_email__creates_then_updates_then_is_unchanged(tenant):
    created = contact_upsert_by_email(tenant=tenant, email="jo@example.co.uk", first_name="Jo", last_name="Bloggs")
    updated = contact_upsert_by_email(tenant=tenant, email="JO@example.co.uk", first_name="Joanna", last_name="Bloggs")
    same = contact_upsert_by_email(tenant=tenant, email="jo@example.co.uk", first_name="Joanna", last_name="Bloggs")
    assert [created.outcome, updated.outcome, same.outcome] == ["created", "updated", "unchanged"]
    assert created.contact.pk == updated.contact.pk == same.contact.pk
    assert Contact.objects.get().first_name == "Joanna"


def test_contact_get__never_resolves_another_tenants_contact(tenant, other_tenant, make_contact):
    theirs = make_contact(tenant=other_tenant)
    with pytest.raises(ContactNotFound):
        contact_get(tenant=tenant, contact_id=theirs.id)
    with pytest.raises(ContactNotFound):
        contact_get(tenant=tenant, contact_id="not-a-uuid")


def test_contact_update_and_archive__refuse_another_tenants_contact(tenant, other_tenant, make_contact):
    theirs = make_contact(tenant=other_tenant)
    with pytest.raises(ContactOfAnotherTenant):
        contact_update(tenant=tenant, contact=theirs, first_name="Hacked")
    with pytest.raises(ContactOfAnotherTenant):
        contact_archive(tenant=tenant, contact=theirs)
    theirs.refresh_from_db()
    assert theirs.first_name != "Hacked"
    assert not theirs.is_archived


def test_assign_category__refuses_another_tenants_contact_and_writes_nothing(tenant, other_tenant, make_contact):
    theirs = make_contact(tenant=other_tenant)
    with pytest.raises(ContactNotFound):
        contact_assign_category(tenant=tenant, contact_id=theirs.id, category="seller")
    assert not CategoryAssignment.objects.exists()
    assert not EventLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_assign_category__history_contact_and_event_in_one_transaction(tenant, make_contact, agent, event_api):
    contact = make_contact(tenant=tenant)
    first = contact_assign_category(tenant=tenant, contact_id=contact.id, category="seller", assigned_by=agent)
    second = contact_assign_category(tenant=tenant, contact_id=contact.id, category="vendor", source="api")

    contact.refresh_from_db()
    first.refresh_from_db()
    assert contact.category == "vendor"
    assert first.superseded_at is not None
    assert second.is_current
    assert (second.from_category, second.to_category) == ("seller", "vendor")
    sent = [event["data"] for event in event_api.received]
    assert [e["category"] for e in sent] == ["seller", "vendor"]
    assert sent[0]["previousCategory"] is None
    assert sent[0]["assignedBy"] == agent.pk
    assert sent[1]["previousCategory"] == "seller"
    assert sent[1]["assignmentId"] == second.id
    assert sent[1]["source"] == "api"


@pytest.mark.django_db(transaction=True)
def test_assign_category__same_category_again_changes_and_emits_nothing(tenant, make_contact, event_api):
    contact = make_contact(tenant=tenant)
    contact_assign_category(tenant=tenant, contact_id=contact.id, category="landlord")
    assert contact_assign_category(tenant=tenant, contact_id=contact.id, category="landlord") is None
    assert CategoryAssignment.objects.count() == 1
    assert len(event_api.received) == 1


@pytest.mark.django_db(transaction=True)
def test_assign_category__rolled_back_caller_leaves_no_history_and_sends_nothing(tenant, make_contact, event_api):
    contact = make_contact(tenant=tenant)
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_assign_category(tenant=tenant, contact_id=contact.id, category="buyer")
        raise RuntimeError("the caller failed after assigning")
    contact.refresh_from_db()
    assert contact.category == ""
    assert not CategoryAssignment.objects.exists()
    assert event_api.received == []


def test_assign_category__unknown_category_is_refused(tenant, make_contact):
    contact = make_contact(tenant=tenant)
    with pytest.raises(UnknownCategory, match="realtor"):
        contact_assign_category(tenant=tenant, contact_id=contact.id, category="realtor")
    assert not CategoryAssignment.objects.exists()


def test_assign_category__unknown_contact_id(tenant):
    with pytest.raises(ContactNotFound):
        contact_assign_category(tenant=tenant, contact_id=uuid.uuid4(), category="seller")
