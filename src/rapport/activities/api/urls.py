"""Activity endpoints under /api/v1/ beyond the generic record endpoints."""

from django.urls import path, re_path

from . import views

TYPES = r"(?P<type_key>people|companies|deals)"

urlpatterns = [
    path("v1/activities/<int:pk>/complete/", views.ActivityCompleteView.as_view(), name="api-activity-complete"),
    path("v1/activities/<int:pk>/reminder/", views.ActivityReminderView.as_view(), name="api-activity-reminder"),
    path("v1/my-day/", views.MyDayView.as_view(), name="api-my-day"),
    path("v1/notifications/", views.NotificationListView.as_view(), name="api-notifications"),
    path("v1/calendar-feed/", views.CalendarFeedView.as_view(), name="api-calendar-feed"),
    path("v1/notifications/<int:pk>/read/", views.NotificationReadView.as_view(), name="api-notification-read"),
    re_path(rf"^v1/{TYPES}/(?P<pk>[0-9]+)/timeline/$", views.RecordTimelineView.as_view(), name="api-record-timeline"),
]
