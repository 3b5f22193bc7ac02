from __future__ import annotations

from django.apps import AppConfig


class EngineConfig(AppConfig):
    """The local Inngest-compatible engine; installed only when LOCAL_ENGINE_ENABLED."""

    name = "jobs.engine"
    label = "engine"
    verbose_name = "Local engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Every feature registers what it handles with the core (hooks.py) when imported: import them all."""
        from . import ai_gateway, cancellation, delayed, gates, pause_resume, pauses, throttle, timeouts  # noqa: F401
        from .services import cron  # noqa: F401

    def run_trace(self, run_id: str) -> list:
        """A run's trace (selectors.run_trace), for host apps that show it without importing the engine:
        `apps.get_app_config("engine").run_trace(run_id)` where the engine is installed."""
        from .selectors import run_trace

        return run_trace(run_id)

    def fence_refusal(self, value: str, *, step_id: str) -> str | None:
        """Why a step request carrying fence `value` (the `X-Engine-Fence` header) must not run, or None
        (fence.py); for the serve endpoint, which reaches the engine through the app registry only."""
        from .fence import fence_refusal

        return fence_refusal(value, step_id=step_id)

    def retention_tables(self) -> dict:
        """The engine's prunable tables, by name, each with a function from a moment to its rows old enough to go
        then (retention.py); for the host app's retention, which never reads the engine's tables itself."""
        from .retention import retention_tables

        return retention_tables()

    def ledger_listener(self, listener) -> None:
        """Register the host app's run ledger: called with plain values (hooks.LedgerChange) at each run's start,
        step attempt, status change and end, inside the transaction of the engine's change (hooks.py)."""
        from .hooks import ledger_listener

        ledger_listener(listener)

    def queue_stats(self) -> list:
        """The queue's items per function and state with their oldest age (queue_stats.py), for `/metrics`,
        which reaches the engine through the app registry only."""
        from .queue_stats import queue_stats

        return queue_stats()
