"""Rapport's URLs plus the benchmark's raw SQL reference endpoint."""

from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from . import writes
from .reference import people_page

urlpatterns = [
    path("bench/reference/people/", people_page),
    # the write references of bench/writes.py (POST, raw SQL)
    path("bench/reference/writes/people/", csrf_exempt(writes.ref_person_create)),
    path("bench/reference/writes/people/update/", csrf_exempt(writes.ref_person_update)),
    path("bench/reference/writes/deals/", csrf_exempt(writes.ref_deal_create)),
    path("bench/reference/writes/deals/update/", csrf_exempt(writes.ref_deal_update)),
    path("", include("rapport.urls")),
]
