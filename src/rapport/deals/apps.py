from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "rapport.deals"
    label = "deals"
    verbose_name = "Deals"

    def ready(self) -> None:
        # Registers deals (and the app's jobs, if any).
        from . import records, tasks  # noqa: F401
