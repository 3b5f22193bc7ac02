"""Test settings: the project's settings with what a test run needs different, and nothing else.

Every pytest process (each xdist worker too) gets its own free port for the live server, and the Inngest
client points at it, so the serve endpoint and the local engine talk over real HTTP. Test databases are named
per run, so that parallel test runs on one embedded server never share a database.
"""

from __future__ import annotations

import os

from tests.ports import free_port

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DATABASE_POOL", "false")

_PORT = free_port()
os.environ["DJANGO_LIVE_TEST_SERVER_ADDRESS"] = f"127.0.0.1:{_PORT}"
os.environ["INNGEST_DEV"] = "true"
os.environ["INNGEST_BASE_URL"] = f"http://127.0.0.1:{_PORT}"
os.environ["INNGEST_SERVE_URL"] = f"http://127.0.0.1:{_PORT}/api/inngest"

from nurturehub.settings import *  # noqa: E402, F403
from nurturehub.settings import DATABASES  # noqa: E402

_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))[:12]
DATABASES["default"]["TEST"] = {"NAME": f"test_nurturehub_{_RUN}"}
DATABASES["default"]["CONN_MAX_AGE"] = 0

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CRM_ENCRYPTION_KEYS = ["kVqY0oM6g0b1yqk2Yq7N2k3oXg0v9wR3bHc5m1Zt8aE="]
SITE_URL = f"http://127.0.0.1:{_PORT}"
