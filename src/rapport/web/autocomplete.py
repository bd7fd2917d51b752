"""``/autocomplete/``: the one endpoint behind every link picker of every form (static/js/picker.js).

``?type=companies&q=acm`` (or several types, ``type=people,companies,deals``) answers the records the
user may view whose name matches, from the search index (core.search, which applies the visibility
rule of DESIGN §3 in the same query); ``?type=users&q=sa`` answers active users by name. The answer is
JSON: ``{"results": [{"id", "type", "label", "detail", "type_label"}]}``, plus ``data`` for a type
with ``RecordType.picker_data`` (a product's price in ``?currency=``). A query longer than
``QUERY_MAX`` characters or an unknown type is a 400 naming the parameter.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from rapport.core import registry, search

from .common import page, signed_in

QUERY_MAX = 100
LIMIT = 10
USERS = "users"


def _bad(param: str, message: str) -> JsonResponse:
    return JsonResponse({"error": f"{param}: {message}", "field": param}, status=400)


def user_results(query: str) -> list[dict[str, Any]]:
    """Active users whose first name, last name, username or email starts with every word typed."""
    qs = get_user_model().objects.filter(is_active=True)
    for word in query.split()[:5]:
        qs = qs.filter(
            Q(first_name__istartswith=word)
            | Q(last_name__istartswith=word)
            | Q(username__istartswith=word)
            | Q(email__istartswith=word)
        )
    users = qs.order_by("first_name", "last_name", "username").only("id", "first_name", "last_name", "username")
    return [
        {"id": u.pk, "type": USERS, "label": u.display_name, "detail": "", "type_label": "User"} for u in users[:LIMIT]
    ]


@page
@require_GET
def autocomplete(request: HttpRequest) -> JsonResponse:
    user = signed_in(request)
    query = request.GET.get("q", "")
    if len(query) > QUERY_MAX:
        return _bad("q", f"type at most {QUERY_MAX} characters.")
    keys = [k.strip() for k in request.GET.get("type", "").split(",") if k.strip()]
    if not keys:
        return _bad("type", "say what to search: users or a record type such as companies.")
    if keys == [USERS]:
        return JsonResponse({"results": user_results(query)})
    unknown = [k for k in keys if registry.find(k) is None]
    if unknown or len(keys) > len(registry.keys()):
        return _bad("type", f"there is no record type {(unknown or keys)[0]!r}.")
    query = query.strip()
    hits = search.search(user, query, types=keys, limit=LIMIT) if query else []
    results = [
        {
            "id": hit.record_id,
            "type": hit.type_key,
            "label": hit.title or f"#{hit.record_id}",
            "detail": hit.detail,
            "type_label": registry.get(hit.type_key).label,
        }
        for hit in hits
    ]
    picker_data = registry.get(keys[0]).picker_data if len(keys) == 1 else None
    if picker_data is not None and hits:
        extra = picker_data(user, [hit.record_id for hit in hits], request.GET)
        results = [
            {**r, "data": extra[hit.record_id]} for r, hit in zip(results, hits, strict=True) if hit.record_id in extra
        ]
    return JsonResponse({"results": results})
