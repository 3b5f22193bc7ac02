"""factory_boy factories for the models every test area needs."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from crm_adapters.models import CrmConnection, Provider
from tenants.models import Contact, Membership, Tenant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@agency.example.co.uk")
    password = factory.django.Password("test-password")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Agency {n}")
    slug = factory.Sequence(lambda n: f"agency-{n}")
    brand_voice = "Friendly, expert and local."


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Membership.Role.AGENT


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    tenant = factory.SubFactory(TenantFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"contact{n}@example.co.uk")


class CrmConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CrmConnection
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    provider = Provider.STREET
    config = factory.LazyFunction(dict)

    @factory.post_generation
    def secrets(connection: CrmConnection, create: bool, extracted: dict[str, str] | None, **kwargs: object) -> None:
        connection.set_secrets(extracted if extracted is not None else {"token": "street-test-token"})
        if create:
            connection.save()
