"""Imports endpoints under /api/v1/."""

from django.urls import path

from . import views
from .fullexport import FullExportView

urlpatterns = [
    path("v1/export/all/", FullExportView.as_view(), name="api-export-all"),
    path("v1/imports/", views.ImportListView.as_view(), name="api-imports"),
    path("v1/imports/<int:pk>/", views.ImportDetailView.as_view(), name="api-import"),
    path("v1/imports/<int:pk>/mapping/", views.ImportMappingView.as_view(), name="api-import-mapping"),
    path("v1/imports/<int:pk>/check/", views.ImportCheckView.as_view(), name="api-import-check"),
    path("v1/imports/<int:pk>/run/", views.ImportRunView.as_view(), name="api-import-run"),
    path("v1/imports/<int:pk>/cancel/", views.ImportCancelView.as_view(), name="api-import-cancel"),
    path("v1/imports/<int:pk>/undo/", views.ImportUndoView.as_view(), name="api-import-undo"),
    path("v1/imports/<int:pk>/rejections/", views.ImportRejectionsView.as_view(), name="api-import-rejections"),
]
