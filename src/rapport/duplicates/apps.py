from django.apps import AppConfig


class DuplicatesConfig(AppConfig):
    name = "rapport.duplicates"
    label = "duplicates"
    verbose_name = "Duplicates"

    def ready(self) -> None:
        from . import records, tasks  # noqa: F401
