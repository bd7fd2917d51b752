from django.apps import AppConfig


class DealsConfig(AppConfig):
    name = "rapport.deals"
    label = "deals"
    verbose_name = "Deals"

    def ready(self) -> None:
        # Registers deals.
        from . import records  # noqa: F401
