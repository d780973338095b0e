from django.apps import AppConfig


class RecordingConfig(AppConfig):
    name = "recording"
    verbose_name = "netcall recording"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing these registers system checks, job handlers and periodic upkeep.
        from recording import checks  # noqa: F401
        from recording.jobs import pruning  # noqa: F401
        from recording.library import finishing  # noqa: F401
        from recording.live import checks as live_checks  # noqa: F401
        from recording.live import jobs as live_jobs  # noqa: F401
        from recording.live.joining import LiveJoinExtension
        from recording.signalling.joining import join_extension_register
        from recording.uploads import upkeep  # noqa: F401

        join_extension_register(LiveJoinExtension())
