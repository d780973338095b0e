from django.apps import AppConfig


class RecordingConfig(AppConfig):
    name = "recording"
    verbose_name = "netcall recording"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recording import (
            checks,  # noqa: F401  (registers the system checks)
            library,  # noqa: F401  (registers the recording jobs and upkeep)
            live_checks,  # noqa: F401  (registers the live settings checks)
            live_jobs,  # noqa: F401  (registers live finishing, recovery and callbacks)
        )
