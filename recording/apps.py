from django.apps import AppConfig


class RecordingConfig(AppConfig):
    name = "recording"
    verbose_name = "netcall recording"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recording import checks  # noqa: F401  (registers the system checks)
