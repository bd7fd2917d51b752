"""Invoices and payments are served by the generic record endpoints (/api/v1/invoices/, /api/v1/payments/)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
