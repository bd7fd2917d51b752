"""Sequences endpoints under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/sequences/", views.SequenceListView.as_view(), name="api-sequences"),
    path("v1/sequences/<int:pk>/", views.SequenceDetailView.as_view(), name="api-sequence"),
    path("v1/enrolments/", views.EnrolmentListView.as_view(), name="api-enrolments"),
    path("v1/enrolments/<int:pk>/", views.EnrolmentDetailView.as_view(), name="api-enrolment"),
    path("v1/enrolments/<int:pk>/pause/", views.EnrolmentPauseView.as_view(), name="api-enrolment-pause"),
    path("v1/enrolments/<int:pk>/resume/", views.EnrolmentResumeView.as_view(), name="api-enrolment-resume"),
    path("v1/enrolments/<int:pk>/stop/", views.EnrolmentStopView.as_view(), name="api-enrolment-stop"),
]
