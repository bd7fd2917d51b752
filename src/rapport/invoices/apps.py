from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "rapport.invoices"
    label = "invoices"
    verbose_name = "Invoices"

    def ready(self) -> None:
        # Registers invoices and payments, the overdue job and the owner-follows-company consumer.
        from . import records, tasks  # noqa: F401
