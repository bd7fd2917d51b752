from django.urls import path

from . import views

urlpatterns = [
    path("settings/jobs/", views.job_list, name="settings-jobs"),
    path("settings/jobs/<str:job_id>/retry/", views.job_retry, name="settings-job-retry"),
]
