from django.apps import AppConfig, apps


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from .inngest_compat import keep_event_version

        keep_event_version()  # functions see the envelope's `v` and upcast older events (jobs/events.py)
        if apps.is_installed("jobs.engine"):
            # The local engine feeds the run ledger from its own records (jobs/ledger.py; JOBS_LEDGER_SOURCE).
            from .ledger import record

            apps.get_app_config("engine").ledger_listener(record)
