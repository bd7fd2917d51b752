"""Automation pages (Settings → Automation)."""

from django.urls import path

from .views import settings as views

urlpatterns = [
    path("settings/automation/", views.rule_list, name="settings-automation"),
    path("settings/automation/new/", views.rule_form, name="settings-automation-new"),
    path("settings/automation/<int:pk>/", views.rule_detail, name="settings-automation-rule"),
    path("settings/automation/<int:pk>/edit/", views.rule_form, name="settings-automation-edit"),
    path("settings/automation/<int:pk>/switch/", views.rule_switch, name="settings-automation-switch"),
    path("settings/automation/<int:pk>/dry-run/", views.rule_dry_run, name="settings-automation-dry-run"),
    path("settings/automation/<int:pk>/delete/", views.rule_delete, name="settings-automation-delete"),
]
