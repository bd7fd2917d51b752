from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "rapport.web"
    label = "web"
    verbose_name = "Pages"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (the bulk-change job, found by workers by its path)
