"""`manage.py create_agency`: the first (or any) agency with its owner, and optionally the owner's API token.

The production path for first use (docs/deploy.md); `seed_demo` is for development only. The owner is created when
missing, with the password in AGENCY_OWNER_PASSWORD or, without it, none usable (set one with `changepassword`).
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from tenants.models import Membership, Tenant
from tenants.services import membership_add, tenant_create


class Command(BaseCommand):
    help = "Create an agency and its owner (a user, created if missing); --token prints the owner's API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="the agency's name")
        parser.add_argument("--slug", required=True, help="its short id (letters, digits, hyphens)")
        parser.add_argument("--brand-voice", required=True, help="how its emails should sound (the AI's brief)")
        parser.add_argument("--owner", required=True, help="the owner's username (created if missing)")
        parser.add_argument("--owner-email", default="", help="the owner's email, when the user is created")
        parser.add_argument("--token", action="store_true", help="print the owner's API token (made if missing)")

    def handle(
        self,
        *args: object,
        name: str,
        slug: str,
        brand_voice: str,
        owner: str,
        owner_email: str,
        token: bool,
        **options: object,
    ) -> None:
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"an agency with slug {slug!r} already exists")
        password = os.environ.get("AGENCY_OWNER_PASSWORD", "")
        try:
            with transaction.atomic():
                user, created = get_user_model().objects.get_or_create(username=owner, defaults={"email": owner_email})
                if created:
                    if password:
                        user.set_password(password)
                    else:
                        user.set_unusable_password()
                    user.save()
                tenant = tenant_create(name=name, slug=slug, brand_voice=brand_voice)
                membership_add(tenant=tenant, user=user, role=Membership.Role.OWNER)
        except ValidationError as error:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
            raise CommandError(f"agency not created: {problems}") from None
        self.stdout.write(f"agency {tenant.slug} created; owner {user.username}" + (" (new user)" if created else ""))
        if created and not password:
            self.stdout.write(f"set the owner's password with: manage.py changepassword {user.username}")
        if token:
            key = Token.objects.get_or_create(user=user)[0].key
            self.stdout.write(f"API token: {key}")
