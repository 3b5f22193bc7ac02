"""`manage.py crm_check TENANT_SLUG`: check a tenant's CRM connection against the CRM and print a clear verdict."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_adapters.errors import (
    CrmAuthError,
    CrmConfigurationError,
    CrmError,
    CrmNotFound,
    CrmRateLimited,
    CrmTransientError,
)
from crm_adapters.models import CrmConnection
from crm_adapters.services import crm_verify_connection
from nurturehub.redaction import redact
from tenants.models import Tenant

ADVICE: list[tuple[type[CrmError], str]] = [
    (CrmAuthError, "The CRM refused the credentials: replace the connection's secrets in the admin."),
    (CrmConfigurationError, "The connection's settings are incomplete: fix its config or secrets in the admin."),
    (CrmNotFound, "The CRM has no such endpoint or account: check the base URL and account references."),
    (CrmRateLimited, "The CRM (or our limiter) asks us to wait: try again later."),
    (CrmTransientError, "The CRM could not be reached or failed on its side: try again later."),
]


class Command(BaseCommand):
    help = "Verify a tenant's CRM connection with one authenticated call and print the verdict."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="The tenant's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        connection = CrmConnection.objects.filter(tenant=tenant).first()
        if connection is None:
            raise CommandError(f"{tenant.slug} has no CRM connection.")
        label = f"{connection.get_provider_display()} connection of {tenant.slug}"
        self.stdout.write(f"Checking the {label} (secrets set: {', '.join(connection.secret_names) or 'none'})...")
        secrets = list(connection.secrets.values())
        try:
            result = crm_verify_connection(connection=connection)
        except CrmError as error:
            advice = next((text for kind, text in ADVICE if isinstance(error, kind)), "")
            self.stdout.write(self.style.ERROR(redact(f"FAILED: {type(error).__name__}: {error}", secrets)))
            if advice:
                self.stdout.write(advice)
            connection.refresh_from_db()
            self.stdout.write(f"Connection status: {connection.status}")
            raise CommandError(f"The {label} does not work.") from None
        self.stdout.write(self.style.SUCCESS(redact(f"OK: {result.detail}", secrets)))
        for key, value in result.extra.items():
            self.stdout.write(redact(f"  {key}: {value}", secrets))
        connection.refresh_from_db()
        self.stdout.write(f"Connection status: {connection.status}")
