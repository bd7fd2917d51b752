from django.urls import path

from . import api, my_views

urlpatterns = [
    path("my-day/", my_views.my_day, name="my-day"),
    path("my-day/nav/", my_views.nav, name="my-day-nav"),
    path("my-day/<int:pk>/complete/", my_views.complete, name="my-day-complete"),
    path("my-day/<int:pk>/reschedule/", my_views.reschedule, name="my-day-reschedule"),
    path("my-day/<int:pk>/reminder/", my_views.remind, name="my-day-reminder"),
    path("notifications/", my_views.notifications, name="notifications"),
    path("notifications/read/", my_views.notifications_read, name="notifications-read"),
    path("notifications/settings/", my_views.notification_settings, name="notifications-settings"),
    path("api/v1/my-day/", api.MyDayView.as_view(), name="api-my-day"),
    path("api/v1/notifications/", api.NotificationListView.as_view(), name="api-notifications"),
    path("api/v1/notifications/<int:pk>/read/", api.NotificationReadView.as_view(), name="api-notification-read"),
    path("api/v1/activities/<int:pk>/reminder/", api.ActivityReminderView.as_view(), name="api-activity-reminder"),
]
