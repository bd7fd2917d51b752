from django.apps import AppConfig


class SalesConfig(AppConfig):
    """No models: only the migrations that created the tables the deals, quotes and forecasting apps
    now own, so databases made before the split upgrade in place."""

    name = "rapport.sales"
    label = "sales"
    verbose_name = "Sales (migration history)"
