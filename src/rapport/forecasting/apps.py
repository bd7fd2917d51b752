from django.apps import AppConfig


class ForecastingConfig(AppConfig):
    name = "rapport.forecasting"
    label = "forecasting"
    verbose_name = "Forecasting"

    def ready(self) -> None:
        from . import records, tasks  # noqa: F401
