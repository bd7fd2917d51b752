from django.urls import include, path
from django.urls.resolvers import RoutePattern

from rapport.api.urls import PrefixResolver
from rapport.core import health

urlpatterns = [
    # For load balancers and orchestrators: no login, no rate limit (docs/operations.md).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    PrefixResolver(RoutePattern("api/", is_endpoint=False), "rapport.api.urls"),  # include("rapport.api.urls")
    path("", include("rapport.accounts.urls")),
    path("", include("rapport.forecasting.urls")),
    path("", include("rapport.deals.urls")),
    path("", include("rapport.quotes.urls")),
    path("", include("rapport.jobs.urls")),
    path("", include("rapport.activities.urls")),
    path("", include("rapport.activities.calendar_urls")),
    path("", include("rapport.activities.my_urls")),
    path("", include("rapport.imports.urls")),
    path("", include("rapport.duplicates.urls")),
    path("", include("rapport.reports.urls")),
    path("", include("rapport.webhooks.urls")),
    path("", include("rapport.sequences.urls")),
    path("", include("rapport.mail.urls")),
    path("", include("rapport.invoices.urls")),
    path("", include("rapport.integrations.urls")),
    path("", include("rapport.compose.urls")),
    path("", include("rapport.automation.urls")),
    path("", include("rapport.web.urls")),
]

# An /api/ address that names no endpoint answers like the API does (JSON, the Error schema).
handler404 = "rapport.api.errors.not_found"
# A database outage, lock or statement timeout is a 503 with Retry-After (JSON under /api/, the "try again"
# page elsewhere); any other failure under /api/ is a JSON 500 (rapport.core.outage).
handler500 = "rapport.core.outage.server_error"
