from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from .inngest_compat import keep_event_version

        keep_event_version()  # functions see the envelope's `v` and upcast older events (jobs/events.py)
