"""Pages: one set of URLs serving every registered record type."""

from django.urls import path, register_converter

from rapport.core import registry

from . import autocomplete, lists, records, views


class RecordTypeConverter:
    """Matches only registered type keys, so /login/, /settings/... never reach the generic views."""

    regex = "|".join(sorted(registry.keys(), key=len, reverse=True)) or "(?!)"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RecordTypeConverter, "rtype")

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search_page, name="search"),
    path("autocomplete/", autocomplete.autocomplete, name="autocomplete"),
    path("bin/", views.recycle_bin, name="bin"),
    path("bin/<rtype:type_key>/<int:pk>/restore/", views.restore, name="restore"),
    path("<rtype:type_key>/", lists.list_view, name="record-list"),
    path("<rtype:type_key>/export/", lists.export, name="record-export"),
    path("<rtype:type_key>/bulk/", lists.bulk, name="record-bulk"),
    path("<rtype:type_key>/bulk/<int:change_id>/", lists.bulk_progress, name="record-bulk-progress"),
    path("<rtype:type_key>/views/", lists.save_view, name="record-save-view"),
    path("<rtype:type_key>/views/<int:view_id>/delete/", lists.delete_view, name="record-delete-view"),
    path("<rtype:type_key>/new/", records.create, name="record-new"),
    path("<rtype:type_key>/<int:pk>/", records.detail, name="record-detail"),
    path("<rtype:type_key>/<int:pk>/edit/", records.edit, name="record-edit"),
    path("<rtype:type_key>/<int:pk>/delete/", records.delete, name="record-delete"),
]
