"""Duplicates pages: merge (compare, review, merge), a merge and its undo."""

from typing import Any

from django.urls import path

from .views import merge

urlpatterns: list[Any] = [
    path("duplicates/merge/<str:type_key>/", merge.merge_page, name="duplicates-merge"),
    path("duplicates/merges/", merge.merge_list, name="duplicates-merges"),
    path("duplicates/merges/<int:merge_id>/", merge.merge_detail, name="duplicates-merge-detail"),
    path("duplicates/merges/<int:merge_id>/undo/", merge.undo, name="duplicates-merge-undo"),
]
