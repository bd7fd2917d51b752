from django.urls import path

from . import my_views

urlpatterns = [
    path("my-day/", my_views.my_day, name="my-day"),
    path("my-day/nav/", my_views.nav, name="my-day-nav"),
    path("my-day/<int:pk>/complete/", my_views.complete, name="my-day-complete"),
    path("my-day/<int:pk>/reschedule/", my_views.reschedule, name="my-day-reschedule"),
    path("my-day/<int:pk>/reminder/", my_views.remind, name="my-day-reminder"),
    path("notifications/", my_views.notifications, name="notifications"),
    path("notifications/read/", my_views.notifications_read, name="notifications-read"),
    path("notifications/settings/", my_views.notification_settings, name="notifications-settings"),
]
