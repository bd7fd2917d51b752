from django.urls import include, path

urlpatterns = [
    path("api/", include("rapport.sales.api_urls")),
    path("api/", include("rapport.api.urls")),
    path("", include("rapport.accounts.urls")),
    path("", include("rapport.sales.forecast_urls")),
    path("", include("rapport.sales.urls")),
    path("", include("rapport.sales.quote_urls")),
    path("", include("rapport.jobs.urls")),
    path("", include("rapport.activities.urls")),
    path("", include("rapport.activities.calendar_urls")),
    path("", include("rapport.activities.my_urls")),
    path("", include("rapport.web.urls")),
]
