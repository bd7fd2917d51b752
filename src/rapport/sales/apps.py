from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "rapport.sales"
    label = "sales"
    verbose_name = "Sales"

    def ready(self) -> None:
        # Registers deals and products, and the quote expiry job with the scheduler.
        from . import records, tasks  # noqa: F401
