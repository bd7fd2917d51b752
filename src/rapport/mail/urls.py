"""Mail pages: conversations (/mail/), Settings → Mailboxes and Settings → Mail privacy."""

from django.urls import path

from .views import pages, settings

urlpatterns = [
    path("mail/", pages.mailbox_view, name="mail"),
    path("mail/threads/<int:pk>/", pages.thread_view, name="mail-thread"),
    path("mail/threads/<int:pk>/private/", pages.thread_private, name="mail-thread-private"),
    path("mail/threads/<int:pk>/deal/", pages.thread_deal, name="mail-thread-deal"),
    path("mail/people/new/", pages.create_person, name="mail-create-person"),
    path("mail/attachments/<int:pk>/", pages.attachment, name="mail-attachment"),
    path("settings/mailboxes/", settings.mailbox_list, name="mail-mailboxes"),
    path("settings/mailboxes/new/", settings.mailbox_form, name="mail-mailbox-new"),
    path("settings/mailboxes/<int:pk>/", settings.mailbox_detail, name="mail-mailbox"),
    path("settings/mailboxes/<int:pk>/edit/", settings.mailbox_form, name="mail-mailbox-edit"),
    path("settings/mailboxes/<int:pk>/resync/", settings.mailbox_resync, name="mail-mailbox-resync"),
    path("settings/mailboxes/<int:pk>/delete/", settings.mailbox_delete, name="mail-mailbox-delete"),
    path("settings/mail-privacy/", settings.privacy, name="settings-mail-privacy"),
    path("settings/mail-privacy/<int:pk>/remove/", settings.privacy_remove, name="settings-mail-privacy-remove"),
]
