"""URLs of the timeline and the quick forms on person, company and deal pages."""

from django.urls import re_path

from . import views

TYPES = r"(?P<type_key>people|companies|deals)"

urlpatterns = [
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
