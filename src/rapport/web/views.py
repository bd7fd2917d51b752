"""Pages across record types: the home dashboard, global search and the recycle bin."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from rapport.api.errors import flatten
from rapport.core import registry, search, services
from rapport.core.errors import PermissionDenied, RecordError
from rapport.core.listing import QueryError, decode_cursor, encode_cursor

from . import display, snippets
from .common import error_page, page, query_string, signed_in

RECENT = 10
BIN_PAGE = 30
SEARCH_LIMIT = 50
LIVE_LIMIT = 8


def _title(rtype: registry.RecordType, row: dict[str, Any]) -> str:
    return " ".join(str(row.get(t) or "") for t in rtype.title_fields).strip() or f"#{row['id']}"


@page
def home(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    panels = []
    for rtype in registry.all_types():
        if user.scope_for(rtype.key, "view") is None:
            continue
        rows = (
            rtype.model.objects.visible_to(user)
            .order_by("-updated_at", "-id")
            .values("id", "updated_at", *rtype.title_fields)[:RECENT]
        )
        panels.append(
            {
                "rtype": rtype,
                "rows": [
                    {
                        "url": f"/{rtype.key}/{r['id']}/",
                        "title": _title(rtype, r),
                        "when": display.local_datetime(r["updated_at"]),
                    }
                    for r in rows
                ],
                "can_add": user.scope_for(rtype.key, "add") is not None,
            }
        )
    return render(request, "web/home.html", {"panels": panels})


@page
def search_page(request: HttpRequest) -> HttpResponse:
    """Global search: the full page, and (``live=1``) the results panel under the search box — hits
    grouped by record type in rank order of each type's best hit, titles and a snippet of each with
    the matched words marked (escaped part by part), Markdown bodies as plain text."""
    user = signed_in(request)
    query = request.GET.get("q", "").strip()
    live = request.GET.get("live") == "1"
    hits = search.search(user, query, limit=LIVE_LIMIT if live else SEARCH_LIMIT) if query else []
    words = snippets.terms(query)
    results: list[dict[str, Any]] = []
    labels: dict[str, tuple[str, str] | None] = {}
    for hit in hits:
        found = labels.setdefault(hit.type_key, search.type_labels(hit.type_key))  # a type, or a quote
        if found is None:
            continue
        rtype = registry.find(hit.type_key)
        body = snippets.plain_text(hit.body) if rtype is not None and rtype.search_markdown else hit.body
        results.append(
            {
                "url": f"/{hit.type_key}/{hit.record_id}/",
                "title": hit.title or f"#{hit.record_id}",
                "title_parts": snippets.mark(hit.title or f"#{hit.record_id}", words),
                "snippet": snippets.snippet(body, words),
                "type_label": found[0],
                "type_key": hit.type_key,
            }
        )
    groups: dict[str, dict[str, Any]] = {}
    for r in results:
        plural = (labels[r["type_key"]] or ("", ""))[1]
        groups.setdefault(r["type_key"], {"key": r["type_key"], "label": plural, "items": []})["items"].append(r)
    context = {"query": query, "results": results, "groups": list(groups.values())}
    if live:
        return render(request, "web/_search_live.html", context)
    return render(request, "web/search.html", context)


@page
def recycle_bin(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    types = [t for t in registry.all_types() if user.scope_for(t.key, "delete") is not None]
    type_filter = request.GET.get("type", "")
    if type_filter:
        types = [t for t in types if t.key == type_filter]
        if not types:
            return error_page(
                request, f"type: there is no record type {type_filter!r} in your recycle bin.", back="/bin/"
            )
    cursor = request.GET.get("cursor", "")
    try:
        after: tuple[Any, int] | None = None
        if cursor:
            value, pk, _ = decode_cursor(cursor)
            when = parse_datetime(str(value)) if value else None
            if when is None:
                raise QueryError("cursor", "this cursor is not valid; start again from the first page.")
            after = (when, pk)
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/bin/")

    entries: list[dict[str, Any]] = []
    for rtype in types:
        qs = rtype.model.objects.visible_to(user, "delete", deleted=True)
        if after is not None:
            qs = qs.filter(Q(deleted_at__lt=after[0]) | Q(deleted_at=after[0], id__lt=after[1]))
        for row in qs.order_by("-deleted_at", "-id").values("id", "deleted_at", *rtype.title_fields)[: BIN_PAGE + 1]:
            entries.append(
                {"rtype": rtype, "id": row["id"], "title": _title(rtype, row), "deleted_at": row["deleted_at"]}
            )
    entries.sort(key=lambda e: (e["deleted_at"], e["id"]), reverse=True)
    more = len(entries) > BIN_PAGE
    entries = entries[:BIN_PAGE]
    for e in entries:
        e["when"] = display.local_datetime(e["deleted_at"])
    next_url = ""
    if more and entries:
        last = entries[-1]
        next_url = query_string(request.GET, cursor=encode_cursor(last["deleted_at"], last["id"]))
    context = {
        "entries": entries,
        "next_url": next_url,
        "first_url": ("/bin/" + query_string(request.GET, cursor=None)) if cursor else "",
        "tabs": [t for t in registry.all_types() if user.scope_for(t.key, "delete") is not None],
        "type_filter": type_filter,
    }
    return render(request, "web/bin.html", context)


@page
@require_POST
def restore(request: HttpRequest, type_key: str, pk: int) -> HttpResponse:
    user = signed_in(request)
    rtype = registry.find(type_key)
    if rtype is None:
        raise Http404("No such record.")
    record = rtype.model.objects.visible_to(user, "delete", deleted=True).filter(pk=pk).first()
    if record is None:
        raise Http404("No such record.")
    try:
        services.restore_record(record, actor=user, source="ui")
    except ValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        text = "; ".join(f"{k}: {' '.join(v)}" if k else " ".join(v) for k, v in flatten(detail).items())
        messages.error(request, f"“{record}” was not restored. {text}")
        return redirect("/bin/")
    except (PermissionDenied, RecordError) as exc:
        messages.error(request, str(exc))
        return redirect("/bin/")
    messages.success(request, f"Restored {rtype.label.lower()} “{record}”.")
    return redirect(f"/{rtype.key}/{record.pk}/")
