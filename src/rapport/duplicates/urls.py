"""Duplicates pages: the review queue, "Not a duplicate" and the scan; merge (compare, review, merge), a
merge and its undo."""

from typing import Any

from django.urls import path

from .views import merge, queue

urlpatterns: list[Any] = [
    path("duplicates/", queue.queue, name="duplicates-queue"),
    path("duplicates/<int:pk>/dismiss/", queue.dismiss, name="duplicates-dismiss"),
    path("duplicates/scan/", queue.scan_now, name="duplicates-scan"),
    path("duplicates/scan/<int:pk>/", queue.scan_progress, name="duplicates-scan-progress"),
    path("duplicates/merge/<str:type_key>/", merge.merge_page, name="duplicates-merge"),
    path("duplicates/merges/", merge.merge_list, name="duplicates-merges"),
    path("duplicates/merges/<int:merge_id>/", merge.merge_detail, name="duplicates-merge-detail"),
    path("duplicates/merges/<int:merge_id>/undo/", merge.undo, name="duplicates-merge-undo"),
]
