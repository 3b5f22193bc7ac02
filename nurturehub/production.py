"""What production (`DEBUG=false`) refuses to start with, each problem with what to do about it.

The settings call `refuse_unsafe_production` last, with every setting known, so one start-up lists every problem
at once instead of one per attempt. Each of these failed silently before (issue 20): an embedded throwaway
database, a signing key the SDK cannot decode (a sync 500 in the web server's log only), a serve URL Django
answers 400 to, sequences written by the template writer while the API says "accepted", demo logins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

# Inngest's SDKs strip the prefix with `^signkey-\w+-` and decode the rest as hex (inngest-py's
# `transforms.py` `bytes.fromhex`, inngest-js `signingKey.replace(/signkey-\w+-/, "")`): anything else fails at
# the first signed request.
SIGNING_KEY = re.compile(r"^signkey-\w+-(?:[0-9a-fA-F]{2})+$")
PLACEHOLDER_SECRETS = {"change-me", "changeme", "secret", "dev-only-insecure-key"}
MIN_SECRET_KEY_LENGTH = 50  # what `check --deploy` asks of SECRET_KEY (security.W009)
# Not Django's get_random_secret_key: its alphabet has `$`, and django-environ reads a value starting with `$` as
# the name of another variable (a proxy), so one key in 50 would silently become another variable's value.
SECRET_KEY_HOWTO = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"  # noqa: S105 (a command)


def production_problems(settings: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Every reason the settings are unsafe for production, each saying what to do."""
    problems = []
    if not environ.get("DATABASE_URL", "").strip():
        problems.append(
            "DATABASE_URL is empty: production never starts the embedded PostgreSQL. "
            "Set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/NAME (docs/deploy.md)."
        )
    secret = settings["SECRET_KEY"]
    if environ.get("SECRET_KEY", "").startswith("$"):
        problems.append(
            "SECRET_KEY starts with `$`, which django-environ reads as the name of another variable, not a key. "
            "Make one without it: " + SECRET_KEY_HOWTO
        )
    elif secret in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"SECRET_KEY is a placeholder or shorter than {MIN_SECRET_KEY_LENGTH} characters. Make one with: "
            + SECRET_KEY_HOWTO
        )
    if not settings["CRM_ENCRYPTION_KEYS"]:
        problems.append(
            "CRM_ENCRYPTION_KEYS is empty: CRM secrets are encrypted at rest. Make a key with: "
            'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        )
    if not settings["INNGEST_DEV"] and not (settings["INNGEST_EVENT_KEY"] and settings["INNGEST_SIGNING_KEY"]):
        problems.append("INNGEST_DEV=false needs INNGEST_EVENT_KEY and INNGEST_SIGNING_KEY (see below for the format).")
    signing_key = settings["INNGEST_SIGNING_KEY"]
    if signing_key and not SIGNING_KEY.match(signing_key):
        problems.append(
            "INNGEST_SIGNING_KEY is malformed: the format is signkey-<env>-<hex>, e.g. signkey-prod- followed by "
            "64 hex digits (Inngest's dashboard gives one; for the local engine make one with: "
            "python -c 'import secrets; print(\"signkey-prod-\" + secrets.token_hex(32))')."
        )
    problems += _unservable_urls(settings)
    if not settings["OPENAI_API_KEY"] and settings["AI_WRITER"] != "template":
        problems.append(
            "No AI provider: set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server), or choose "
            "the offline template writer explicitly with AI_WRITER=template."
        )
    if environ.get("DEMO_ADMIN_PASSWORD"):
        problems.append(
            "DEMO_ADMIN_PASSWORD is set: demo data (known logins) has no place in production. Remove it; create the "
            "first admin with `manage.py createsuperuser` (docs/deploy.md)."
        )
    return problems


def _unservable_urls(settings: Mapping[str, Any]) -> list[str]:
    """Serve URLs whose host Django would answer 400 (DisallowedHost) to: Inngest could never sync or call it."""
    problems = []
    for url in [settings["INNGEST_SERVE_URL"], *settings["ENGINE_APP_URLS"]]:
        netloc = urlsplit(url).netloc.rpartition("@")[2]
        domain, _ = split_domain_port(netloc)
        if not domain or not validate_host(domain, settings["ALLOWED_HOSTS"]):
            problems.append(
                f"The serve URL {url} has a host ({domain or 'none'}) that is not in ALLOWED_HOSTS "
                f"({','.join(settings['ALLOWED_HOSTS']) or 'empty'}): Inngest's calls to it would get 400. "
                "Add the host to ALLOWED_HOSTS or fix INNGEST_SERVE_URL / ENGINE_APP_URLS."
            )
    return problems


def refuse_unsafe_production(settings: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    problems = production_problems(settings, environ)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ImproperlyConfigured(
            f"DEBUG=false (production) refuses to start:\n{listed}\n"
            "Start from .env.production.example, which explains every variable."
        )
