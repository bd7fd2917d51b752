"""Integrations endpoints under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/integrations/", views.IntegrationListView.as_view(), name="api-integrations"),
    path("v1/integrations/<int:pk>/", views.IntegrationDetailView.as_view(), name="api-integration"),
    path(
        "v1/integrations/<int:pk>/rotate-secret/", views.IntegrationRotateView.as_view(), name="api-integration-rotate"
    ),
    path("v1/integrations/<int:pk>/deliveries/", views.DeliveryListView.as_view(), name="api-integration-deliveries"),
    path("v1/telephony/lookup/", views.CallerLookupView.as_view(), name="api-telephony-lookup"),
    path("v1/telephony/calls/", views.CallLogView.as_view(), name="api-telephony-calls"),
    path("v1/integrations/<slug:slug>/inbound/", views.InboundView.as_view(), name="api-integration-inbound"),
]
