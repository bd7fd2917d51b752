"""Pages of line items and quotes, included from rapport.urls before the generic record pages."""

from django.urls import path

from .views import quote_list
from .views import quotes as quote_views

urlpatterns = [
    path("deals/<int:pk>/line-items/", quote_views.line_items, name="deal-line-items"),
    path("deals/<int:pk>/quotes/", quote_views.deal_quotes, name="deal-quotes"),
    path("deals/<int:pk>/quotes/new/", quote_views.create_quote, name="deal-quote-new"),
    path("quotes/", quote_list.quote_list, name="quote-list"),
    path("quotes/<int:pk>/", quote_views.quote_detail, name="quote-detail"),
    path("quotes/<int:pk>/lines/", quote_views.quote_lines, name="quote-lines"),
    path("quotes/<int:pk>/details/", quote_views.quote_details, name="quote-details"),
    path("quotes/<int:pk>/print/", quote_views.quote_print, name="quote-print"),
    path("quotes/<int:pk>/pdf/", quote_views.quote_pdf, name="quote-pdf"),
    path("quotes/<int:pk>/<str:action>/", quote_views.quote_action, name="quote-action"),
]
