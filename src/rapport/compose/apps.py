from django.apps import AppConfig


class ComposeConfig(AppConfig):
    name = "rapport.compose"
    label = "compose"
    verbose_name = "Sending email"

    def ready(self) -> None:
        from . import bounces, tasks  # noqa: F401

        bounces.connect()
