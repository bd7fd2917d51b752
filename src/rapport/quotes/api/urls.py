"""Quote endpoints under /api/v1/."""

from django.urls import path

from . import views as api_quotes

urlpatterns = [
    path("v1/quotes/", api_quotes.QuoteListView.as_view(), name="api-quotes-list"),
    path("v1/quotes/<int:pk>/", api_quotes.QuoteDetailView.as_view(), name="api-quotes-detail"),
    path("v1/quotes/<int:pk>/send/", api_quotes.QuoteSendView.as_view(), name="api-quotes-send"),
    path("v1/quotes/<int:pk>/accept/", api_quotes.QuoteAcceptView.as_view(), name="api-quotes-accept"),
    path("v1/quotes/<int:pk>/decline/", api_quotes.QuoteDeclineView.as_view(), name="api-quotes-decline"),
    path("v1/quotes/<int:pk>/pdf/", api_quotes.QuotePDFView.as_view(), name="api-quotes-pdf"),
    path("v1/deals/<int:pk>/quotes/", api_quotes.DealQuotesView.as_view(), name="api-deal-quotes"),
]
