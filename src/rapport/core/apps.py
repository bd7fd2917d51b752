from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rapport.core"
    label = "core"
    verbose_name = "Rapport core"

    def ready(self) -> None:
        # System checks, and the has_element JSON lookup every tag filter relies on.
        from django.db.backends.signals import connection_created

        from . import checks, jsonq  # noqa: F401
        from .outage import apply_timeouts

        # Lock and statement time limits on every new database connection (RAPPORT_DB_*_TIMEOUT).
        connection_created.connect(apply_timeouts, dispatch_uid="rapport-db-timeouts")
