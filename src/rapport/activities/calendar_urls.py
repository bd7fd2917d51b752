"""URLs of the calendar page, the secret iCalendar feed and meeting invites."""

from django.urls import path, re_path

from . import calendar_views

urlpatterns = [
    path("calendar/", calendar_views.calendar_page, name="calendar"),
    path("calendar/feed/", calendar_views.feed_settings, name="calendar-feed-settings"),
    re_path(r"^calendar/feed/(?P<token>[A-Za-z0-9_-]{8,100})\.ics$", calendar_views.feed, name="calendar-feed"),
    path("activities/<int:pk>/invite.ics", calendar_views.invite, name="activity-invite"),
]
