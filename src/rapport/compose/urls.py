from django.urls import path

from .views import pages, public

urlpatterns = [
    path("email/compose/", pages.compose_page, name="email-compose"),
    path("settings/email-suppressions/", pages.suppression_list, name="settings-email-suppressions"),
    path(
        "settings/email-suppressions/<int:pk>/remove/",
        pages.suppression_remove,
        name="settings-email-suppression-remove",
    ),
    path("email/sent/", pages.sent_list, name="email-sent"),
    path("email/sent/<int:pk>/", pages.sent_detail, name="email-sent-detail"),
    path("email/sent/<int:pk>/cancel/", pages.sent_cancel, name="email-sent-cancel"),
    path("email/templates/", pages.template_list, name="email-templates"),
    path("email/templates/new/", pages.template_new, name="email-template-new"),
    path("email/templates/<int:pk>/", pages.template_edit, name="email-template"),
    path("email/templates/<int:pk>/delete/", pages.template_delete, name="email-template-delete"),
    path("email/t/o/<str:token>.gif", public.open_pixel, name="email-open"),
    path("email/t/c/<str:token>/", public.click, name="email-click"),
    path("email/unsubscribe/<str:token>/", public.unsubscribe_page, name="email-unsubscribe"),
]
