"""Sequences pages."""

from django.urls import path

from .views import pages

urlpatterns = [
    path("sequences/", pages.sequence_list, name="sequences"),
    path("sequences/new/", pages.sequence_form, name="sequence-new"),
    path("sequences/enrol/", pages.enrol, name="sequence-enrol"),
    path("sequences/person/<int:pk>/", pages.person_section, name="sequence-person"),
    path("sequences/<int:pk>/", pages.sequence_detail, name="sequence"),
    path("sequences/<int:pk>/edit/", pages.sequence_form, name="sequence-edit"),
    path("sequences/<int:pk>/delete/", pages.sequence_delete, name="sequence-delete"),
    path("sequences/enrolments/<int:pk>/<str:action>/", pages.enrolment_action, name="sequence-enrolment-action"),
]
