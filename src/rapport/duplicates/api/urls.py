"""Duplicates endpoints under /api/v1/: the likely-duplicate check per checked type, the review queue and
"Not a duplicate" (queue.py); merge per registered type, a merge, its undo (views.py)."""

from typing import Any

from django.urls import path

from rapport.core import registry
from rapport.duplicates.services import checked_types

from . import queue, views

urlpatterns: list[Any] = [
    path("v1/merges/<int:pk>/", views.MergeDetailView.as_view(), name="api-merge"),
    path("v1/merges/<int:pk>/undo/", views.MergeUndoView.as_view(), name="api-merge-undo"),
    path("v1/duplicates/", queue.DuplicateQueueView.as_view(), name="api-duplicates"),
    path("v1/duplicates/<int:pk>/dismiss/", queue.DuplicateDismissView.as_view(), name="api-duplicates-dismiss"),
]
urlpatterns += [
    path(f"v1/{rtype.key}/merge/", views.merge_view(rtype).as_view(), name=f"api-{rtype.key}-merge")
    for rtype in registry.all_types()
]
urlpatterns += [
    path(f"v1/{t.key}/duplicates/", queue.check_view_for(t).as_view(), name=f"api-{t.key}-duplicates")
    for t in checked_types()
]
