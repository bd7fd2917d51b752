from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "rapport.activities"
    label = "activities"
    verbose_name = "Activities"

    def ready(self) -> None:
        # Registers activities, and the reminder and digest jobs with the scheduler.
        from . import records, tasks  # noqa: F401
