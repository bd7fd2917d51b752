"""Webhooks endpoints under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/webhooks/", views.SubscriptionListView.as_view(), name="api-webhooks"),
    path("v1/webhooks/<int:pk>/", views.SubscriptionDetailView.as_view(), name="api-webhook"),
    path("v1/webhooks/<int:pk>/rotate-secret/", views.SubscriptionRotateView.as_view(), name="api-webhook-rotate"),
    path("v1/webhooks/<int:pk>/test/", views.SubscriptionTestView.as_view(), name="api-webhook-test"),
    path("v1/webhooks/<int:pk>/deliveries/", views.DeliveryListView.as_view(), name="api-webhook-deliveries"),
    path("v1/webhooks/deliveries/<int:pk>/", views.DeliveryDetailView.as_view(), name="api-webhook-delivery"),
    path(
        "v1/webhooks/deliveries/<int:pk>/redeliver/",
        views.DeliveryRedeliverView.as_view(),
        name="api-webhook-redeliver",
    ),
]
