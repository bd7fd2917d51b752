"""Duplicates endpoints under /api/v1/: merge per registered type, a merge, its undo."""

from typing import Any

from django.urls import path

from rapport.core import registry

from . import views

urlpatterns: list[Any] = [
    path("v1/merges/<int:pk>/", views.MergeDetailView.as_view(), name="api-merge"),
    path("v1/merges/<int:pk>/undo/", views.MergeUndoView.as_view(), name="api-merge-undo"),
]
urlpatterns += [
    path(f"v1/{rtype.key}/merge/", views.merge_view(rtype).as_view(), name=f"api-{rtype.key}-merge")
    for rtype in registry.all_types()
]
