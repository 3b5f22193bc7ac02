"""Demo data for `make run`: an admin login, one agency with a brand voice, an agent, and a few contacts."""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tenants.models import Category, Contact, Membership, Tenant
from tenants.services import contact_assign_category, contact_upsert_by_email, membership_add, tenant_create

DEMO_CONTACTS = [
    ("Olivia", "Hughes", "olivia.hughes@example.co.uk", Category.SELLER),
    ("George", "Patel", "george.patel@example.co.uk", Category.LANDLORD),
    ("Amelia", "Clarke", "amelia.clarke@example.co.uk", Category.BUY_TO_LET_INVESTOR),
    ("Harry", "Evans", "harry.evans@example.co.uk", Category.ACTIVE_TENANT),
    ("Isla", "Wright", "isla.wright@example.co.uk", Category.PROSPECTIVE_SELLER),
]

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create (idempotently) the demo agency, users and contacts; optionally assign their categories."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--assign-categories",
            action="store_true",
            help="assign each demo contact its category (emits events: the Inngest server must be up)",
        )

    def handle(self, *args: object, assign_categories: bool, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo refuses to run with DEBUG=false: demo users have a known password")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "nurturehub")
        with transaction.atomic():
            user_model = get_user_model()
            admin, created = user_model.objects.get_or_create(
                username=ADMIN_USERNAME,
                defaults={"email": "ops@nurturehub.local", "is_staff": True, "is_superuser": True},
            )
            if created:
                admin.set_password(password)
                admin.save()
            agent, created = user_model.objects.get_or_create(
                username="sam.agent", defaults={"email": "sam.agent@harbourhale.example.co.uk"}
            )
            if created:
                agent.set_password(password)
                agent.save()
            tenant = Tenant.objects.filter(slug="harbour-hale").first() or tenant_create(
                name="Harbour & Hale Estates",
                slug="harbour-hale",
                brand_voice="Warm, plain-spoken and local: we know every street in Bristol and write like neighbours.",
                brand_tone="warm, expert, never pushy",
                brand_sign_off="Best wishes, the Harbour & Hale team",
            )
            membership_add(tenant=tenant, user=admin, role=Membership.Role.OWNER)
            membership_add(tenant=tenant, user=agent, role=Membership.Role.AGENT)
            for first, last, email, _ in DEMO_CONTACTS:
                contact_upsert_by_email(
                    tenant=tenant, email=email, first_name=first, last_name=last, assigned_agent_id=agent.pk
                )
        if assign_categories:
            for _, _, email, category in DEMO_CONTACTS:
                contact = Contact.objects.for_tenant(tenant).get(email=email)
                if not contact.category:
                    contact_assign_category(tenant=tenant, contact_id=contact.id, category=category)
        self.stdout.write(f"demo tenant {tenant.slug} with {len(DEMO_CONTACTS)} contacts")
