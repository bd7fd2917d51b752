"""URLs of the timeline and the quick forms on person, company and deal pages, and of the outbox settings page."""

from django.urls import path, re_path

from . import outbox_views, views

TYPES = r"(?P<type_key>people|companies|deals)"

urlpatterns = [
    path("settings/outbox/", outbox_views.outbox_list, name="settings-outbox"),
    path("settings/outbox/<int:pk>/retry/", outbox_views.outbox_retry, name="settings-outbox-retry"),
    re_path(rf"^{TYPES}/(?P<pk>[0-9]+)/timeline/$", views.timeline_view, name="record-timeline"),
    re_path(
        rf"^{TYPES}/(?P<pk>[0-9]+)/timeline/complete/(?P<activity_pk>[0-9]+)/$",
        views.complete,
        name="timeline-complete",
    ),
    re_path(
        rf"^{TYPES}/(?P<pk>[0-9]+)/quicklog/(?P<form_key>call|note|task|meeting)/$",
        views.quicklog,
        name="quicklog",
    ),
]
