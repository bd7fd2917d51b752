from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "rapport.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from . import records, tasks  # noqa: F401
