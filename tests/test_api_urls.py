"""The API's URL patterns gathered by prefix (rapport.api.urls.by_prefix) answer every path exactly as the
patterns tried one by one did."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import Resolver404, URLResolver, path, re_path, resolve, reverse
from django.urls.resolvers import RoutePattern

from rapport.api.urls import PrefixResolver, by_prefix


def _view(name: str):
    def view(request, **kwargs):
        return HttpResponse(name)

    return view


def _resolver(patterns) -> URLResolver:
    return URLResolver(RoutePattern(""), patterns)


def test_gathered_patterns_resolve_as_the_flat_list():
    flat = [
        path("schema/", _view("schema"), name="schema"),
        path("v1/quotes/", _view("app quotes"), name="app-quotes"),
        path("v1/people/merge/", _view("merge"), name="merge"),
        re_path(r"^v1/(?P<type_key>people|deals)/(?P<pk>[0-9]+)/timeline/$", _view("timeline"), name="timeline"),
        path("v1/people/<int:pk>/timeline/", _view("shadowed"), name="shadowed"),
        path("v1/people/", _view("people"), name="people-list"),
        path("v1/quotes/", _view("generic quotes"), name="generic-quotes"),
        path("v1/people/<int:pk>/", _view("person"), name="person", kwargs={"extra": 1}),
        path("v1/<str:anything>/", _view("catch"), name="catch"),
        path("v1/deals/", _view("deals"), name="deals-list"),
    ]
    gathered = by_prefix(flat)
    # schema; quotes and people before the regular expression; the regular expression; people, quotes after
    # it; the converter route; deals after that
    assert [str(p.pattern) for p in gathered] == [
        "schema/",
        "v1/quotes/",
        "v1/people/",
        flat[3].pattern.regex.pattern,
        "v1/people/",
        "v1/quotes/",
        "v1/<str:anything>/",
        "v1/deals/",
    ]
    before, after = _resolver(flat), _resolver(gathered)
    # and the API's resolver, which tries only the patterns that can match a path's leading two segments
    narrowed = PrefixResolver(RoutePattern(""), gathered)
    for url in [
        "schema/",
        "v1/quotes/",  # the first of the two routes wins, as before
        "v1/people/merge/",
        "v1/people/5/timeline/",  # the regular expression, tried before the later route
        "v1/people/",
        "v1/people/7/",
        "v1/deals/",  # caught by the converter route before its own, as before
        "v1/other/",
    ]:
        old, new, fast = before.resolve(url), after.resolve(url), narrowed.resolve(url)
        assert (new.url_name, new.kwargs, new.route) == (old.url_name, old.kwargs, old.route), url
        assert (fast.url_name, fast.kwargs, fast.route) == (old.url_name, old.kwargs, old.route), url
    assert after.resolve("v1/quotes/").url_name == "app-quotes"
    # "v1/people/7/" tried the schema route, both people groups and the barriers between them, not quotes or deals
    assert [str(p.pattern) for p in narrowed._narrowed["v1/people/"].url_patterns] == [
        "schema/",
        "v1/people/",
        flat[3].pattern.regex.pattern,
        "v1/people/",
        "v1/<str:anything>/",
    ]
    assert after.resolve("v1/people/5/timeline/").kwargs == {"type_key": "people", "pk": "5"}
    assert after.resolve("v1/people/7/").kwargs == {"pk": 7, "extra": 1}
    for url in ("v1/people/x/", "v2/people/", "v1/people/5/timeline/extra/"):
        for resolver in (before, after, narrowed):
            try:
                resolver.resolve(url)
            except Resolver404:
                continue
            raise AssertionError(f"{url} resolved")


def test_api_addresses_resolve_and_reverse_as_before():
    assert resolve("/api/v1/people/").url_name == "api-people-list"
    assert resolve("/api/v1/people/12/").kwargs == {"pk": 12}
    assert resolve("/api/v1/people/12/").route == "api/v1/people/<int:pk>/"
    assert resolve("/api/v1/quotes/").url_name == "api-quotes-list"  # the quotes app's own list view
    assert resolve("/api/v1/people/3/timeline/").url_name == "api-record-timeline"
    assert resolve("/api/v1/people/merge/").url_name == "api-people-merge"
    assert reverse("api-deals-detail", kwargs={"pk": 4}) == "/api/v1/deals/4/"
    assert reverse("api-deal-move", kwargs={"pk": 4}) == "/api/v1/deals/4/move/"
    assert reverse("api-me") == "/api/v1/me/"
