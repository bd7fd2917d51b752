from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "rapport.quotes"
    label = "quotes"
    verbose_name = "Quotes"

    def ready(self) -> None:
        # Registers products, and the quote expiry job with the scheduler.
        from . import records, tasks  # noqa: F401
