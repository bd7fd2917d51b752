from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "rapport.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        # Registers the built-in periodic jobs (event sweep, lost-job recovery, pruning).
        from . import tasks  # noqa: F401
