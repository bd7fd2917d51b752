"""Mail endpoints under /api/v1/mail/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/mail/messages/", views.MessageListView.as_view(), name="api-mail-messages"),
    path("v1/mail/messages/<int:pk>/", views.MessageDetailView.as_view(), name="api-mail-message"),
    path("v1/mail/threads/", views.ThreadListView.as_view(), name="api-mail-threads"),
    path("v1/mail/threads/<int:pk>/", views.ThreadDetailView.as_view(), name="api-mail-thread"),
    path("v1/mail/mailboxes/", views.MailboxListView.as_view(), name="api-mail-mailboxes"),
]
