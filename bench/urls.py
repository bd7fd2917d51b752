"""Rapport's URLs plus the benchmark's raw SQL reference endpoint."""

from django.urls import include, path

from .reference import people_page

urlpatterns = [
    path("bench/reference/people/", people_page),
    path("", include("rapport.urls")),
]
