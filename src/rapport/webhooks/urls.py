"""Webhooks pages (Settings → Webhooks)."""

from django.urls import path

from .views import settings as views

urlpatterns = [
    path("settings/webhooks/", views.subscription_list, name="settings-webhooks"),
    path("settings/webhooks/new/", views.subscription_form, name="settings-webhook-new"),
    path("settings/webhooks/<int:pk>/", views.subscription_detail, name="settings-webhook"),
    path("settings/webhooks/<int:pk>/edit/", views.subscription_form, name="settings-webhook-edit"),
    path("settings/webhooks/<int:pk>/test/", views.subscription_test, name="settings-webhook-test"),
    path("settings/webhooks/<int:pk>/rotate/", views.subscription_rotate, name="settings-webhook-rotate"),
    path("settings/webhooks/<int:pk>/delete/", views.subscription_delete, name="settings-webhook-delete"),
    path("settings/webhooks/deliveries/<int:pk>/", views.delivery_detail, name="settings-webhook-delivery"),
    path(
        "settings/webhooks/deliveries/<int:pk>/redeliver/",
        views.delivery_redeliver,
        name="settings-webhook-redeliver",
    ),
]
