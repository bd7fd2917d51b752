from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "rapport.sales"
    label = "sales"
    verbose_name = "Sales"

    def ready(self) -> None:
        from rapport.core import registry

        # Registers deals and products, and the quote expiry job with the scheduler.
        from . import records, tasks  # noqa: F401

        # The deals of a person or a company show on their pages.
        for key in ("people", "companies"):
            sections = registry.get(key).detail_sections
            if "sales/deals_section.html" not in sections:
                sections.append("sales/deals_section.html")
