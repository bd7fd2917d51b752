"""Imports pages."""

from django.urls import path

from .views import pages

urlpatterns = [
    path("import/", pages.index, name="imports"),
    path("import/<int:pk>/", pages.detail, name="import-detail"),
    path("import/<int:pk>/mapping/", pages.mapping, name="import-mapping"),
    path("import/<int:pk>/run/", pages.run, name="import-run"),
    path("import/<int:pk>/cancel/", pages.cancel, name="import-cancel"),
    path("import/<int:pk>/undo/", pages.undo, name="import-undo"),
    path("import/<int:pk>/rejected.csv", pages.rejected_csv, name="import-rejected-csv"),
]
