from __future__ import annotations

from django.apps import AppConfig


class EngineConfig(AppConfig):
    """The local Inngest-compatible engine; installed only when LOCAL_ENGINE_ENABLED."""

    name = "jobs.engine"
    label = "engine"
    verbose_name = "Local engine"
    default_auto_field = "django.db.models.BigAutoField"
