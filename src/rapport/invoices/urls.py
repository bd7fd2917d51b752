"""Invoices pages beyond the generic ones (lists, detail and forms come from the registry)."""

from django.urls import path

from .views import section

urlpatterns = [
    path("invoices/section/", section.invoices_section, name="invoices-section"),
]
