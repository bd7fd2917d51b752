"""The list page of every record type: filters, ordering, columns, keyset pages, saved views,
bulk actions and export, all from the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rapport.accounts.models import Team
from rapport.api.errors import flatten
from rapport.core import bulkedit, customfields, listing
from rapport.core import jsonq as _jsonq  # noqa: F401  (registers the has_element lookup of the tag filter)
from rapport.core.errors import PermissionDenied, RecordError
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.core.models import BulkChange, CustomField, SavedView
from rapport.core.registry import Column, RecordType

from . import display, tasks
from .common import error_page, page, query_string, record_type, safe_next, signed_in
from .forms import record_label, user_choices

BULK_ACTIONS = [  # core.bulkedit.ACTIONS, in the order the menu offers them
    ("assign_owner", "Assign owner"),
    ("add_tag", "Add tag"),
    ("remove_tag", "Remove tag"),
    ("delete", "Delete"),
    ("merge", "Merge (2–5 rows)"),  # to the merge page (duplicates/views/merge.py), not a bulk change
    ("sequence", "Enrol in sequence"),  # people only: to the enrol page (sequences/views/pages.py)
]
MERGE_MAX = 5
VIEW_PARAMS_EXCLUDED = {"cursor", "view", "count"}


@dataclass
class ListColumn:
    key: str
    label: str
    column: Column | None = None
    custom: CustomField | None = None
    sortable: bool = False
    sort_url: str = ""
    sorted: str = ""  # "asc", "desc" or ""


@dataclass
class FilterInput:
    name: str
    label: str
    widget: str  # select, text, date, record
    value: Any = ""
    choices: list[tuple[str, str]] = field(default_factory=list)
    link_type: str = ""
    display: str = ""


def _choose_columns(
    rtype: RecordType, params: QueryDict, defs: list[CustomField]
) -> tuple[list[Column], list[CustomField], list[str]]:
    raw: list[str] = []
    for value in params.getlist("columns"):
        raw.extend(v for v in value.split(",") if v)
    by_key = rtype.columns_by_key
    cf_by_key = {f"cf_{d.key}": d for d in defs}
    if not raw:
        return [c for c in rtype.columns if c.default], [], [c.key for c in rtype.columns if c.default]
    cols: list[Column] = []
    cfs: list[CustomField] = []
    for key in dict.fromkeys(raw):
        if key in by_key:
            cols.append(by_key[key])
        elif key in cf_by_key:
            cfs.append(cf_by_key[key])
        else:
            known = ", ".join([*by_key, *cf_by_key])
            raise QueryError("columns", f"there is no column {key!r}; choose from {known}.")
    return cols, cfs, list(dict.fromkeys(raw))


def _filter_inputs(
    rtype: RecordType, params: QueryDict, user: Any, defs: list[CustomField], users: list[tuple[str, str]]
) -> list[FilterInput]:
    out: list[FilterInput] = []
    read: dict[Any, list[tuple[str, str]]] = {}  # options shared by two filters (stage, entered) read once

    def options(f: Any) -> list[tuple[str, str]]:
        if f.options not in read:
            read[f.options] = f.options()
        return read[f.options]

    for f in rtype.filters:
        if f.kind == "date_range":
            for op, word in (("after", "from"), ("before", "to")):
                name = f"{f.name}__{op}"
                out.append(FilterInput(name, f"{f.label} {word}", "date", params.get(name, "")))
            continue
        if f.kind == "query":
            for op, label, widget in f.parts:
                name = f"{f.name}__{op}" if op else f.name
                value = params.get(name, "")
                if widget == "date":
                    out.append(FilterInput(name, label, "date", value))
                elif widget == "id" and f.options is not None:
                    out.append(FilterInput(name, label, "select", value, [("", "Any"), *options(f)]))
                elif widget == "yes_no":
                    out.append(FilterInput(name, label, "select", value, [("", "Any"), ("yes", "Yes"), ("no", "No")]))
                else:
                    out.append(FilterInput(name, label, "text", value))
            continue
        value = params.get(f.name, "")
        if f.kind == "user":
            choices = [("", "Anyone"), ("me", "Me"), ("none", "Nobody"), *users]
            out.append(FilterInput(f.name, f.label, "select", value, choices))
        elif f.kind == "team":
            teams = [(str(t.pk), t.name) for t in Team.objects.only("id", "name")]
            out.append(FilterInput(f.name, f.label, "select", value, [("", "Any team"), *teams]))
        elif f.kind == "choice":
            out.append(FilterInput(f.name, f.label, "select", value, [("", "Any"), *f.choices]))
        elif f.kind == "present":
            out.append(FilterInput(f.name, f.label, "select", value, [("", "Any"), ("yes", "Yes"), ("no", "No")]))
        elif f.kind == "id" and f.options is not None:
            out.append(FilterInput(f.name, f.label, "select", value, [("", "Any"), *options(f)]))
        elif f.kind == "record":
            label = record_label(f.link_type, value, user) if is_id(value) else ""
            out.append(FilterInput(f.name, f.label, "record", value, link_type=f.link_type, display=label))
        else:
            out.append(FilterInput(f.name, f.label, "text", value))
    # The operators a report's drill-down writes (``<filter>__not``: "Others"; ``<date>__isnull``: "No date")
    # have no place in the bar: shown (and removable as a chip) only when the address holds them.
    for f in rtype.filters:
        for op, word in (("not", "not"), ("isnull", "empty")):
            name = f"{f.name}__{op}"
            if params.get(name):
                out.append(FilterInput(name, f"{f.label} ({word})", "text", params.get(name, "")))
    for d in defs:
        name = f"cf_{d.key}"
        if d.field_type in ("text", "long_text", "email", "phone", "url"):
            name = f"cf_{d.key}__contains"
            out.append(FilterInput(name, d.label, "text", params.get(name, "")))
        elif d.field_type in ("choice", "multi_choice"):
            out.append(
                FilterInput(name, d.label, "select", params.get(name, ""), [("", "Any"), *((c, c) for c in d.choices)])
            )
        elif d.field_type == "boolean":
            out.append(
                FilterInput(name, d.label, "select", params.get(name, ""), [("", "Any"), ("yes", "Yes"), ("no", "No")])
            )
        elif d.field_type == "user":
            out.append(FilterInput(name, d.label, "select", params.get(name, ""), [("", "Anyone"), *users]))
        elif d.field_type == "date":
            out.append(FilterInput(name, d.label, "date", params.get(name, "")))
        else:
            out.append(FilterInput(name, d.label, "text", params.get(name, "")))
    # and those of custom fields (a report's custom date periods, "Not set", "Others" and "Earlier")
    for d in defs:
        for op, word in (("gte", "from"), ("lte", "to"), ("not", "not"), ("isnull", "empty")):
            name = f"cf_{d.key}__{op}"
            if params.get(name):
                out.append(FilterInput(name, f"{d.label} ({word})", "text", params.get(name, "")))
    return out


def filter_inputs(rtype: RecordType, params: QueryDict, user: Any) -> list[FilterInput]:
    """The list's filter bar inputs for ``rtype`` with ``params``' values (the report builder shows them too)."""
    return _filter_inputs(rtype, params, user, customfields.definitions(rtype.key), user_choices())


def _saved_views(rtype: RecordType, user: Any) -> list[SavedView]:
    return list(
        SavedView.objects.filter(record_type=rtype.key)
        .filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
        .order_by("name", "id")
    )


def _saved_params(params: QueryDict) -> str:
    return urlencode([(k, v) for k, vs in params.lists() if k not in VIEW_PARAMS_EXCLUDED for v in vs if v != ""])


def count_words(count: listing.Count, rtype: RecordType) -> str:
    """ "400 people", "1 person", "more than 10,000 people", "about 1.2 million people"."""
    n = count.value
    noun = rtype.label.lower() if n == 1 and count.exact else rtype.label_plural.lower()
    if count.exact:
        return f"{n:,} {noun}"
    if not count.estimated:
        return f"more than {n:,} {noun}"
    return f"about {about(n)} {noun}"


def about(n: int) -> str:
    """A planner's estimate in two significant figures: 1,234,567 → "1.2 million", 45,678 → "46,000"."""
    rounded = round(n, 2 - len(str(n)))
    if rounded >= 1_000_000:
        return f"{round(n / 1_000_000, 1):g} million"
    return f"{rounded:,}"


LIST_EXTRA_PARAMS = ("count",)


def _matching_text(count: listing.Count, rtype: RecordType, *, filtered: bool) -> str:
    """What "select all" selects: "400 people matching", "people matching (about 1.2 million)"."""
    words = "matching" if filtered else "in the list"
    if count.exact:
        return f"{count_words(count, rtype)} {words}"
    return f"{rtype.label_plural.lower()} {words} ({count_words(count, rtype)})"


@page
def list_view(request: HttpRequest, type_key: str) -> HttpResponse:
    user = signed_in(request)
    rtype = record_type(type_key, user)
    params = request.GET
    if any(v == "" for _, values in params.lists() for v in values):
        # Clean URLs: a filter form's empty fields leave the address (without JavaScript too).
        return redirect(f"/{rtype.key}/" + query_string(params))
    defs = customfields.definitions(rtype.key)
    try:
        q = listing.build_filter(rtype, params, user, extra=LIST_EXTRA_PARAMS)
        if params.get("count", "exact") != "exact":
            raise QueryError("count", "use count=exact to count every matching record.")
        search = listing.search_text(params)
        ordering = listing.parse_ordering(rtype, params.get("ordering"))
        size = listing.page_size(params)
        cols, cf_cols, chosen = _choose_columns(rtype, params, defs)
        qs = rtype.model.objects.visible_to(user).filter(q)
        # A money column is shown in its currency's decimals, so its currency is read even when hidden.
        read = [*cols, *(rtype.columns_by_key[c.currency] for c in cols if c.kind == "money" and c.currency)]
        read = list(dict.fromkeys(read))
        fields = [*listing.projection_fields(rtype, read), ordering.path]
        pg = listing.paginate(qs, ordering, params.get("cursor") or None, size, fields=list(dict.fromkeys(fields)))
    except QueryError as exc:
        return error_page(
            request,
            f"The filter “{exc.param}” cannot be used: {exc.message}",
            status=400,
            back=f"/{rtype.key}/",
        )
    if not params.get("cursor") and not pg.next_cursor:
        count = listing.Count(len(pg.rows))  # the whole list is on this page: no query
    else:
        exact = params.get("count") == "exact"
        count = listing.count_rows(qs, bound=settings.RAPPORT_LIST_COUNT_BOUND, exact=exact)

    names = display.Names(user)
    for raw in pg.rows:
        for d in cf_cols:
            display.want_custom(d, (raw.get("custom") or {}).get(d.key), names)
    names.resolve()
    rows = []
    for raw in pg.rows:
        row = listing.project_row(rtype, raw, read, user=user)
        cells = [display.cell(c, row.get(c.key), names, row) for c in cols]
        cells += [display.custom_shown(d, row["custom"].get(d.key), names) for d in cf_cols]
        rows.append({"id": row["id"], "cells": cells, "url": f"/{rtype.key}/{row['id']}/"})

    list_columns: list[ListColumn] = []
    for c in cols:
        lc = ListColumn(c.key, c.label, column=c, sortable=c.sortable)
        if c.sortable:
            if ordering.key == c.key:
                lc.sorted = "desc" if ordering.descending else "asc"
                new = c.key if ordering.descending else f"-{c.key}"
            else:
                new = c.key
            lc.sort_url = query_string(params, ordering=new, cursor=None, count=None)
        list_columns.append(lc)
    list_columns += [ListColumn(f"cf_{d.key}", d.label, custom=d) for d in cf_cols]

    users = user_choices()
    filter_inputs = _filter_inputs(rtype, params, user, defs, users)
    active_filters = sum(1 for f in filter_inputs if f.value)
    base = f"/{rtype.key}/"
    chips = []
    if search:
        remove = base + query_string(params, q=None, cursor=None, count=None)
        chips.append({"label": "Search", "value": search, "remove_url": remove})
    chips += [
        {
            "label": f.label,
            "value": f.display or dict(f.choices).get(f.value, f.value),
            "remove_url": base + query_string(params, **{f.name: None, "cursor": None, "count": None}),
        }
        for f in filter_inputs
        if f.value
    ]
    count_text = count_words(count, rtype)

    picker = [(c.key, c.label, c.key in chosen) for c in rtype.columns]
    picker += [(f"cf_{d.key}", d.label, f"cf_{d.key}" in chosen) for d in defs]
    export_qs = query_string(params, cursor=None, count=None)
    can_change = user.scope_for(rtype.key, "change") is not None
    can_delete = user.scope_for(rtype.key, "delete") is not None
    context = {
        "rtype": rtype,
        "rows": rows,
        "columns": list_columns,
        "filters": filter_inputs,
        "active_filters": active_filters,
        "chips": chips,
        "search": search,
        "count": count,
        "count_text": count_text,
        "count_exact_url": "" if count.exact else query_string(params, count="exact"),
        "next_url": query_string(params, cursor=pg.next_cursor, count=None) if pg.next_cursor else "",
        "previous_url": query_string(params, cursor=pg.previous_cursor, count=None) if pg.previous_cursor else "",
        "first_url": (base + query_string(params, cursor=None, count=None)) if pg.previous_cursor else "",
        "picker": picker,
        "hidden_for_filters": [(k, v) for k, v in _pairs(params) if k in ("ordering", "columns", "page_size", "q")],
        "hidden_for_columns": [(k, v) for k, v in _pairs(params) if k not in ("columns", "cursor", "count")],
        "hidden_for_search": [(k, v) for k, v in _pairs(params) if k not in ("q", "cursor", "count")],
        "saved_views": _saved_views(rtype, user),
        "current_params": _saved_params(params),
        "export_csv": f"/{rtype.key}/export/?"
        + urlencode([("format", "csv"), *_pairs(params, skip={"cursor", "format", "count"})]),
        "export_xlsx": f"/{rtype.key}/export/?"
        + urlencode([("format", "xlsx"), *_pairs(params, skip={"cursor", "format", "count"})]),
        "can_add": user.scope_for(rtype.key, "add") is not None,
        "can_change": can_change,
        "can_delete": can_delete,
        "can_export": user.scope_for(rtype.key, "export") is not None,
        "bulk_actions": [
            (v, label)
            for v, label in BULK_ACTIONS
            if (can_delete if v == "delete" else can_change and can_delete if v == "merge" else can_change)
            and (v != "sequence" or rtype.key == "people")
        ],
        "users": users,
        "here": request.get_full_path(),
        "is_filtered": bool(active_filters or search),
        "export_qs": export_qs,
        # "Select all N matching": the filters the bulk action re-applies (never a cursor).
        "matching_params": query_string(params, cursor=None, count=None, columns=None, page_size=None).lstrip("?"),
        "more_than_page": bool(pg.next_cursor or pg.previous_cursor),
        "matching_text": _matching_text(count, rtype, filtered=bool(active_filters or search)),
    }
    return render(request, "web/list.html", context)


def _pairs(params: QueryDict, skip: set[str] | None = None) -> list[tuple[str, str]]:
    return [(k, v) for k, values in params.lists() if k not in (skip or set()) for v in values if v != ""]


# --- saved views ------------------------------------------------------------------------------
MAX_VIEW_PARAMS = 2000


@page
@require_POST
def save_view(request: HttpRequest, type_key: str) -> HttpResponse:
    user = signed_in(request)
    rtype = record_type(type_key, user)
    name = request.POST.get("name", "").strip()
    params = request.POST.get("params", "")
    back = f"/{rtype.key}/" + (f"?{params}" if params else "")
    if not name:
        messages.error(request, "Give the view a name.")
        return redirect(back)
    if len(name) > 100:
        messages.error(request, "Use at most 100 characters for the view's name.")
        return redirect(back)
    if len(params) > MAX_VIEW_PARAMS:
        messages.error(request, f"This view cannot be saved: its filters are longer than {MAX_VIEW_PARAMS} characters.")
        return redirect(f"/{rtype.key}/")
    parsed = QueryDict(params)
    try:
        listing.build_filter(rtype, parsed, user)
        listing.parse_ordering(rtype, parsed.get("ordering"))
        _choose_columns(rtype, parsed, customfields.definitions(rtype.key))
    except QueryError as exc:
        messages.error(request, f"This view cannot be saved: {exc.param}: {exc.message}")
        return redirect(f"/{rtype.key}/")
    clean = urlencode([(k, v) for k, v in parse_qsl(params) if k not in VIEW_PARAMS_EXCLUDED])
    SavedView.objects.create(
        record_type=rtype.key, name=name, owner=user, shared=request.POST.get("shared") == "on", params=clean
    )
    messages.success(request, f"Saved the view “{name}”.")
    return redirect(back)


@page
@require_POST
def delete_view(request: HttpRequest, type_key: str, view_id: int) -> HttpResponse:
    user = signed_in(request)
    rtype = record_type(type_key, user)
    view = get_object_or_404(SavedView, pk=view_id, record_type=rtype.key, owner=user)
    view.delete()
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect(f"/{rtype.key}/")


# --- bulk actions -----------------------------------------------------------------------------
@page
@require_POST
def bulk(request: HttpRequest, type_key: str) -> HttpResponse:
    """A bulk action on the chosen rows, or on every record matching the list ("select all N
    matching"): at once up to RAPPORT_BULK_SYNC_LIMIT records, as a job with a progress page above."""
    user = signed_in(request)
    rtype = record_type(type_key, user)
    back = safe_next(request, f"/{rtype.key}/")
    if request.POST.get("action") == "merge":
        return _to_merge(request, rtype, back)
    if request.POST.get("action") == "sequence" and rtype.key == "people":
        return _to_enrol(request, back)
    value = {"owner": request.POST.get("owner", ""), "tag": request.POST.get("tag", "")}
    try:
        action = bulkedit.check_action(rtype, request.POST.get("action", ""), value, user)
    except bulkedit.BulkInputError as exc:
        messages.error(request, _input_message(exc))
        return redirect(back)
    if request.POST.get("scope") == "matching":
        params = request.POST.get("params", "")
        try:
            visible = bulkedit.matching(rtype, params, user)
        except QueryError as exc:
            messages.error(request, f"Nothing was changed. The filter “{exc.param}” cannot be used: {exc.message}")
            return redirect(back)
        limit = settings.RAPPORT_BULK_SYNC_LIMIT
        ids = list(visible.order_by("pk").values_list("pk", flat=True)[: limit + 1])
        if len(ids) > limit:
            change = bulkedit.start(rtype, params, action, actor=user)
            transaction.on_commit(lambda: tasks.run_bulk_change.enqueue(change.pk))
            return redirect(f"/{rtype.key}/bulk/{change.pk}/")
    else:
        ids = [int(i) for i in request.POST.getlist("ids") if is_id(i)]
    if not ids:
        messages.error(request, "Select at least one row.")
        return redirect(back)
    done = 0
    try:
        with transaction.atomic():
            allowed = rtype.model.objects.visible_to(user, action.permission).filter(pk__in=ids).count()
            done = bulkedit.apply(rtype, ids, action, actor=user)
    except ValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        text = "; ".join(f"{k}: {' '.join(v)}" if k else " ".join(v) for k, v in flatten(detail).items())
        messages.error(request, f"Nothing was changed. {text}")
        return redirect(back)
    except (PermissionDenied, RecordError) as exc:
        messages.error(request, f"Nothing was changed. {exc}")
        return redirect(back)
    skipped = len(set(ids)) - allowed
    messages.success(request, _done_message(rtype, action.name, done, skipped))
    return redirect(back)


def _to_merge(request: HttpRequest, rtype: RecordType, back: str) -> HttpResponse:
    """ "Merge" on ticked rows: the merge page compares them (it checks who may merge what)."""
    ids = list(dict.fromkeys(int(i) for i in request.POST.getlist("ids") if is_id(i)))
    if request.POST.get("scope") == "matching" or not 2 <= len(ids) <= MERGE_MAX:
        messages.error(request, f"Select 2 to {MERGE_MAX} rows to merge.")
        return redirect(back)
    return redirect(f"/duplicates/merge/{rtype.key}/?ids={','.join(map(str, ids))}")


def _to_enrol(request: HttpRequest, back: str) -> HttpResponse:
    """ "Enrol in sequence" on ticked people: the enrol page chooses the sequence (and checks who may enrol whom)."""
    if request.POST.get("scope") == "matching":
        messages.error(request, "Tick the people to enrol (at most 500), or enrol a saved view from the enrol page.")
        return redirect(back)
    ids = list(dict.fromkeys(int(i) for i in request.POST.getlist("ids") if is_id(i)))[:500]
    if not ids:
        messages.error(request, "Select at least one row.")
        return redirect(back)
    return redirect("/sequences/enrol/?" + urlencode({"people": ",".join(map(str, ids)), "next": back}))


def _input_message(exc: bulkedit.BulkInputError) -> str:
    if exc.field == "action" and exc.message == "choose an action.":
        return "Choose an action."
    return f"Nothing was changed. {exc.field.capitalize()}: {exc.message}"


def _done_message(rtype: RecordType, action: str, done: int, skipped: int) -> str:
    label = rtype.label_plural.lower() if done != 1 else rtype.label.lower()
    verb = "Deleted" if action == "delete" else "Updated"
    text = f"{verb} {done:,} {label}."
    if skipped:
        permission = bulkedit.ACTIONS[action]
        text += f" {skipped:,} skipped: you may not {permission} them."
    return text


@page
def bulk_progress(request: HttpRequest, type_key: str, change_id: int) -> HttpResponse:
    """The progress of a bulk change, for the user who started it: the page, and the panel that
    htmx polls every second while the job runs."""
    user = signed_in(request)
    rtype = record_type(type_key, user)
    change = get_object_or_404(BulkChange, pk=change_id, record_type=rtype.key, actor=user)
    heading = dict(BULK_ACTIONS).get(change.action, "Change")
    if change.action == "assign_owner":
        owner = get_user_model().objects.filter(pk=change.value.get("owner")).first()
        heading += f" {owner.display_name}" if owner else ""
    elif change.value.get("tag"):
        heading += f" “{change.value['tag']}”"
    context = {
        "rtype": rtype,
        "change": change,
        "done_text": f"{change.done:,}",
        "total_text": f"{change.total:,}",
        "heading": f"{heading} · {rtype.label_plural.lower()} matching the list",
        "finished": change.status in (BulkChange.DONE, BulkChange.FAILED),
        "summary": _done_message(rtype, change.action, change.changed, change.skipped)
        if change.status == BulkChange.DONE
        else "",
        "back": f"/{rtype.key}/" + (f"?{change.params}" if change.params else ""),
    }
    template = "web/_bulk_progress.html" if request.headers.get("HX-Request") else "web/bulk_progress.html"
    return render(request, template, context)


# --- export -----------------------------------------------------------------------------------
@page
def export(request: HttpRequest, type_key: str) -> HttpResponse:
    rtype = record_type(type_key, request.user)
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return error_page(request, "format: choose csv or xlsx.", status=400, back=f"/{rtype.key}/")
    try:
        from rapport.core.export import export_response
    except ImportError:
        return error_page(request, "Export is not available yet.", status=501, back=f"/{rtype.key}/")
    return export_response(request, rtype, fmt)
