"""Exchange-rate, quota and forecast endpoints under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/exchange-rates/", views.ExchangeRateListView.as_view(), name="api-exchange-rates"),
    path("v1/exchange-rates/<int:pk>/", views.ExchangeRateDetailView.as_view(), name="api-exchange-rate"),
    path("v1/quotas/", views.QuotaListView.as_view(), name="api-quotas"),
    path("v1/quotas/<int:pk>/", views.QuotaDetailView.as_view(), name="api-quota"),
    path("v1/forecast/", views.ForecastView.as_view(), name="api-forecast"),
]
