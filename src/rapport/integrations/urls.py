"""Integrations pages (Settings → Integrations)."""

from django.urls import path

from .views import settings as views

urlpatterns = [
    path("settings/integrations/", views.integration_list, name="settings-integrations"),
    path("settings/integrations/new/", views.integration_form, name="settings-integration-new"),
    path("settings/integrations/<int:pk>/", views.integration_detail, name="settings-integration"),
    path("settings/integrations/<int:pk>/edit/", views.integration_form, name="settings-integration-edit"),
    path("settings/integrations/<int:pk>/rotate/", views.integration_rotate, name="settings-integration-rotate"),
    path("settings/integrations/<int:pk>/delete/", views.integration_delete, name="settings-integration-delete"),
]
