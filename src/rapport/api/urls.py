"""The API's URLs: schema and docs, search and me, each app's own endpoints (its ``api/urls.py``, found
by name so this module imports no domain app), then the generic record endpoints from the registry.

Django tries a URLconf's patterns one by one; with ~200 endpoints a record list was matched after some
130 failed patterns (~0.1 ms of CPU in a loop, ~0.4 ms inside a request: a fifth of a list's CPU). The
patterns are therefore gathered under one ``include`` per leading ``v1/<name>/`` (``by_prefix``), in the
order Django would have tried them, so a request tries a few dozen prefixes and then its own few routes."""

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.urls import URLPattern, URLResolver, include, path
from django.urls.resolvers import RoutePattern
from django.utils.functional import cached_property
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


def _prefix(pattern: Any) -> str | None:
    """The two leading literal segments of a ``path()`` endpoint's route ("v1/people/" of
    "v1/people/<int:pk>/"), or None (a regular expression, a converter among them, an include)."""
    if not isinstance(pattern, URLPattern) or not isinstance(pattern.pattern, RoutePattern):
        return None
    return _leading(str(pattern.pattern))


def by_prefix(patterns: Iterable[Any]) -> list[Any]:
    """``patterns`` with those sharing their two leading literal segments gathered under one include of
    that prefix. A path can only match routes of its own prefix, so trying the groups one after the other
    answers exactly what trying the patterns in their order did: within a group the order is kept, and a
    pattern without such a prefix (a regular expression) is a barrier no route is moved across."""
    out: list[Any] = []
    groups: dict[str, list[Any]] = {}

    def close() -> None:
        for prefix, members in groups.items():
            rest = [path(str(p.pattern)[len(prefix) :], p.callback, p.default_args, name=p.name) for p in members]
            out.append(path(prefix, include(rest)))
        groups.clear()

    for pattern in patterns:
        prefix = _prefix(pattern)
        if prefix is None:
            close()
            out.append(pattern)
        else:
            groups.setdefault(prefix, []).append(pattern)
    close()
    return out


def _leading(route: str) -> str | None:
    """The two leading literal segments of a route or path ("v1/people/" of "v1/people/<int:pk>/"), or None."""
    parts = route.split("/", 2)
    if len(parts) < 3 or not parts[0] or not parts[1] or "<" in parts[0] + parts[1]:
        return None
    return f"{parts[0]}/{parts[1]}/"


class PrefixResolver(URLResolver):
    """The resolver of ``api/``: a path whose leading ``v1/<name>/`` is that of some pattern tries only the
    patterns that can match it — those of that prefix and those without one (regular expressions, converters),
    in their order — so a record list no longer fails through two dozen other prefixes first (~40 µs of CPU per
    request). Any other path is tried against every pattern. Reversing uses every pattern, as before."""

    @cached_property
    def _narrowed(self) -> dict[str, URLResolver]:
        def prefix_of(pattern: Any) -> str | None:
            return _leading(str(pattern.pattern)) if isinstance(pattern.pattern, RoutePattern) else None

        prefixes = {p for p in map(prefix_of, self.url_patterns) if p is not None}
        return {
            prefix: URLResolver(
                self.pattern,
                [p for p in self.url_patterns if prefix_of(p) in (None, prefix)],
                self.default_kwargs,
                self.app_name,
                self.namespace,
            )
            for prefix in prefixes
        }

    def resolve(self, path: Any) -> Any:
        match = self.pattern.match(str(path))
        if match:
            prefix = _leading(match[0])
            narrowed = self._narrowed.get(prefix) if prefix else None
            if narrowed is not None:
                return narrowed.resolve(path)
        return super().resolve(path)


urlpatterns: list[Any] = [
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("v1/search/", views.SearchView.as_view(), name="api-search"),
    path("v1/me/", views.MeView.as_view(), name="api-me"),
    path("v1/custom-fields/", customfields.CustomFieldListView.as_view(), name="api-custom-fields"),
    path("v1/custom-fields/<int:pk>/", customfields.CustomFieldDetailView.as_view(), name="api-custom-field"),
]
for _module in app_api_urls():
    urlpatterns += importlib.import_module(_module).urlpatterns

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

urlpatterns = by_prefix(urlpatterns)
