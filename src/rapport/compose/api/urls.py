"""Email endpoints under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/email-templates/", views.TemplateListView.as_view(), name="api-email-templates"),
    path("v1/email-templates/<int:pk>/", views.TemplateDetailView.as_view(), name="api-email-template"),
    path(
        "v1/email-templates/<int:pk>/preview/", views.TemplatePreviewView.as_view(), name="api-email-template-preview"
    ),
    path("v1/outgoing-messages/", views.MessageListView.as_view(), name="api-outgoing-messages"),
    path("v1/email-suppressions/", views.SuppressionListView.as_view(), name="api-email-suppressions"),
    path("v1/email-suppressions/<int:pk>/", views.SuppressionDetailView.as_view(), name="api-email-suppression"),
    path("v1/outgoing-messages/<int:pk>/", views.MessageDetailView.as_view(), name="api-outgoing-message"),
    path(
        "v1/outgoing-messages/<int:pk>/cancel/", views.MessageCancelView.as_view(), name="api-outgoing-message-cancel"
    ),
]
