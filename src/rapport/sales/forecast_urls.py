"""URLs of the forecast page, the exchange-rate and quota settings, and their API endpoints."""

from django.urls import path

from . import api_money, forecast_views

urlpatterns = [
    path("forecast/", forecast_views.forecast_page, name="forecast"),
    path("settings/rates/", forecast_views.rate_list, name="settings-rates"),
    path("settings/rates/<int:pk>/delete/", forecast_views.rate_delete, name="settings-rate-delete"),
    path("settings/quotas/", forecast_views.quota_list, name="settings-quotas"),
    path("settings/quotas/<int:pk>/delete/", forecast_views.quota_delete, name="settings-quota-delete"),
    path("api/v1/exchange-rates/", api_money.ExchangeRateListView.as_view(), name="api-exchange-rates"),
    path("api/v1/exchange-rates/<int:pk>/", api_money.ExchangeRateDetailView.as_view(), name="api-exchange-rate"),
    path("api/v1/quotas/", api_money.QuotaListView.as_view(), name="api-quotas"),
    path("api/v1/quotas/<int:pk>/", api_money.QuotaDetailView.as_view(), name="api-quota"),
    path("api/v1/forecast/", api_money.ForecastView.as_view(), name="api-forecast"),
]
