"""Imports endpoints under /api/v1/."""

from typing import Any

from django.urls import path

from .fullexport import FullExportView

urlpatterns: list[Any] = [
    path("v1/export/all/", FullExportView.as_view(), name="api-export-all"),
]
