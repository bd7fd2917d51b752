"""The settings audit trail under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/audit/", views.AuditListView.as_view(), name="api-audit"),
]
