"""Automation endpoints under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/automation/rules/", views.RuleListView.as_view(), name="api-automation-rules"),
    path("v1/automation/rules/<int:pk>/", views.RuleDetailView.as_view(), name="api-automation-rule"),
    path("v1/automation/rules/<int:pk>/dry-run/", views.RuleDryRunView.as_view(), name="api-automation-dry-run"),
    path("v1/automation/rules/<int:pk>/runs/", views.RuleRunListView.as_view(), name="api-automation-runs"),
    path("v1/automation/actions/", views.ActionListView.as_view(), name="api-automation-actions"),
]
