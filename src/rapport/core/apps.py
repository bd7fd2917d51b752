from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rapport.core"
    label = "core"
    verbose_name = "Rapport core"

    def ready(self) -> None:
        # System checks, and the has_element JSON lookup every tag filter relies on.
        from . import checks, jsonq  # noqa: F401
