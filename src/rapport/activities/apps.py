from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "rapport.activities"
    label = "activities"
    verbose_name = "Activities"

    def ready(self) -> None:
        from . import records  # noqa: F401  (registers activities)
