from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AutomationConfig(AppConfig):
    name = "rapport.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        from rapport.web import display

        from . import actions, records, tasks  # noqa: F401
        from .queries import rule_sources
        from .shipped import ensure_shipped_rules

        display.SOURCE_DETAILS["automation"] = rule_sources
        post_migrate.connect(ensure_shipped_rules, sender=self, dispatch_uid="rapport.automation.shipped_rules")
