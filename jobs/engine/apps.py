from __future__ import annotations

from django.apps import AppConfig


class EngineConfig(AppConfig):
    """The local Inngest-compatible engine; installed only when LOCAL_ENGINE_ENABLED."""

    name = "jobs.engine"
    label = "engine"
    verbose_name = "Local engine"
    default_auto_field = "django.db.models.BigAutoField"

    def run_trace(self, run_id: str) -> list:
        """A run's trace (selectors.run_trace), for host apps that show it without importing the engine:
        `apps.get_app_config("engine").run_trace(run_id)` where the engine is installed."""
        from .selectors import run_trace

        return run_trace(run_id)
