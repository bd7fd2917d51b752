from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "rapport.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        from rapport.web import display

        from . import actions, records, tasks  # noqa: F401
        from .queries import rule_sources

        display.SOURCE_DETAILS["automation"] = rule_sources
