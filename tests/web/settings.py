"""Settings for the gunicorn process the web-server tests start: the test settings plus a test-only view."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.web.urls"
