"""URLs of the forecast page and the exchange-rate and quota settings."""

from django.urls import path

from .views import forecast as forecast_views

urlpatterns = [
    path("forecast/", forecast_views.forecast_page, name="forecast"),
    path("settings/rates/", forecast_views.rate_list, name="settings-rates"),
    path("settings/rates/<int:pk>/delete/", forecast_views.rate_delete, name="settings-rate-delete"),
    path("settings/quotas/", forecast_views.quota_list, name="settings-quotas"),
    path("settings/quotas/<int:pk>/delete/", forecast_views.quota_delete, name="settings-quota-delete"),
]
