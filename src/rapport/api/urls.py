"""The API's URLs: schema and docs, search and me, each app's own endpoints (its ``api/urls.py``, found
by name so this module imports no domain app), then the generic record endpoints from the registry."""

import importlib.util
from typing import Any

from django.apps import apps
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from rapport.core import registry

from . import changes, customfields, views


def app_api_urls() -> list[str]:
    """The ``<app>.api.urls`` module of every installed Rapport app that has one, in app order."""
    found = []
    for config in apps.get_app_configs():
        name = f"{config.name}.api.urls"
        if config.name.startswith("rapport.") and config.name != "rapport.api":
            if importlib.util.find_spec(f"{config.name}.api") and importlib.util.find_spec(name):
                found.append(name)
    return found


urlpatterns: list[Any] = [
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("v1/search/", views.SearchView.as_view(), name="api-search"),
    path("v1/me/", views.MeView.as_view(), name="api-me"),
    path("v1/custom-fields/", customfields.CustomFieldListView.as_view(), name="api-custom-fields"),
    path("v1/custom-fields/<int:pk>/", customfields.CustomFieldDetailView.as_view(), name="api-custom-field"),
]
urlpatterns += [path("", include(module)) for module in app_api_urls()]

for _rtype in registry.all_types():
    _views = views.views_for(_rtype)
    urlpatterns += [
        path(f"v1/{_rtype.key}/", _views["list"].as_view(), name=f"api-{_rtype.key}-list"),
        path(f"v1/{_rtype.key}/export/", _views["export"].as_view(), name=f"api-{_rtype.key}-export"),
        path(f"v1/{_rtype.key}/changes/", changes.changes_view(_rtype).as_view(), name=f"api-{_rtype.key}-changes"),
        path(f"v1/{_rtype.key}/<int:pk>/", _views["detail"].as_view(), name=f"api-{_rtype.key}-detail"),
        path(f"v1/{_rtype.key}/<int:pk>/restore/", _views["restore"].as_view(), name=f"api-{_rtype.key}-restore"),
        path(f"v1/{_rtype.key}/<int:pk>/history/", _views["history"].as_view(), name=f"api-{_rtype.key}-history"),
    ]
