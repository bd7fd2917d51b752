"""The list page of every record type: filters, ordering, columns, keyset pages, saved views,
bulk actions and export, all from the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

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
from rapport.core import customfields, listing, services
from rapport.core import jsonq as _jsonq  # noqa: F401  (registers the has_element lookup of the tag filter)
from rapport.core.errors import PermissionDenied, RecordError
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.core.models import CustomField, SavedView
from rapport.core.registry import Column, RecordType

from . import display
from .common import error_page, page, query_string, record_type, safe_next, signed_in
from .forms import record_label, user_choices

BULK_ACTIONS = [
    ("assign_owner", "Assign owner"),
    ("add_tag", "Add tag"),
    ("remove_tag", "Remove tag"),
    ("delete", "Delete"),
]
VIEW_PARAMS_EXCLUDED = {"cursor", "view"}


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
    for f in rtype.filters:
        if f.kind == "date_range":
            for op, word in (("after", "from"), ("before", "to")):
                name = f"{f.name}__{op}"
                out.append(FilterInput(name, f"{f.label} {word}", "date", params.get(name, "")))
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
        elif f.kind == "id" and f.options is not None:
            out.append(FilterInput(f.name, f.label, "select", value, [("", "Any"), *f.options()]))
        elif f.kind == "record":
            label = record_label(f.link_type, value, user) if is_id(value) else ""
            out.append(FilterInput(f.name, f.label, "record", value, link_type=f.link_type, display=label))
        else:
            out.append(FilterInput(f.name, f.label, "text", value))
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
    return out


def _saved_views(rtype: RecordType, user: Any) -> list[SavedView]:
    return list(
        SavedView.objects.filter(record_type=rtype.key)
        .filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
        .order_by("name", "id")
    )


def _saved_params(params: QueryDict) -> str:
    return urlencode([(k, v) for k, vs in params.lists() if k not in VIEW_PARAMS_EXCLUDED for v in vs if v != ""])


@page
def list_view(request: HttpRequest, type_key: str) -> HttpResponse:
    user = signed_in(request)
    rtype = record_type(type_key, user)
    params = request.GET
    defs = customfields.definitions(rtype.key)
    try:
        q = listing.build_filter(rtype, params, user)
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
            lc.sort_url = query_string(params, ordering=new, cursor=None)
        list_columns.append(lc)
    list_columns += [ListColumn(f"cf_{d.key}", d.label, custom=d) for d in cf_cols]

    users = user_choices()
    filter_inputs = _filter_inputs(rtype, params, user, defs, users)
    active_filters = sum(1 for f in filter_inputs if f.value)
    chips = [
        {
            "label": f.label,
            "value": f.display or dict(f.choices).get(f.value, f.value),
            "remove_url": f"/{rtype.key}/" + query_string(params, **{f.name: None, "cursor": None}),
        }
        for f in filter_inputs
        if f.value
    ]
    if pg.next_cursor and not params.get("cursor"):
        count_text = f"{len(rows)}+ {rtype.label_plural.lower()}"
    elif params.get("cursor"):
        count_text = f"{len(rows)} {rtype.label_plural.lower()} on this page"
    else:
        count_text = f"{len(rows)} {rtype.label_plural.lower() if len(rows) != 1 else rtype.label.lower()}"

    picker = [(c.key, c.label, c.key in chosen) for c in rtype.columns]
    picker += [(f"cf_{d.key}", d.label, f"cf_{d.key}" in chosen) for d in defs]
    export_qs = query_string(params, cursor=None)
    context = {
        "rtype": rtype,
        "rows": rows,
        "columns": list_columns,
        "filters": filter_inputs,
        "active_filters": active_filters,
        "chips": chips,
        "count_text": count_text,
        "next_url": query_string(params, cursor=pg.next_cursor) if pg.next_cursor else "",
        "previous_url": query_string(params, cursor=pg.previous_cursor) if pg.previous_cursor else "",
        "picker": picker,
        "hidden_for_filters": [(k, v) for k, v in _pairs(params) if k in ("ordering", "columns", "page_size")],
        "hidden_for_columns": [(k, v) for k, v in _pairs(params) if k not in ("columns", "cursor")],
        "saved_views": _saved_views(rtype, user),
        "current_params": _saved_params(params),
        "export_csv": f"/{rtype.key}/export/?"
        + urlencode([("format", "csv"), *_pairs(params, skip={"cursor", "format"})]),
        "export_xlsx": f"/{rtype.key}/export/?"
        + urlencode([("format", "xlsx"), *_pairs(params, skip={"cursor", "format"})]),
        "can_add": user.scope_for(rtype.key, "add") is not None,
        "can_change": user.scope_for(rtype.key, "change") is not None,
        "can_delete": user.scope_for(rtype.key, "delete") is not None,
        "can_export": user.scope_for(rtype.key, "export") is not None,
        "bulk_actions": BULK_ACTIONS,
        "users": users,
        "here": request.get_full_path(),
        "is_filtered": bool(active_filters),
        "export_qs": export_qs,
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
    user = signed_in(request)
    rtype = record_type(type_key, user)
    back = safe_next(request, f"/{rtype.key}/")
    action = request.POST.get("action", "")
    if action not in dict(BULK_ACTIONS):
        messages.error(request, "Choose an action.")
        return redirect(back)
    ids = [int(i) for i in request.POST.getlist("ids") if is_id(i)]
    if not ids:
        messages.error(request, "Select at least one row.")
        return redirect(back)
    permission = "delete" if action == "delete" else "change"
    records = list(rtype.model.objects.visible_to(user, permission).filter(pk__in=ids).order_by("pk"))
    skipped = len(set(ids)) - len(records)
    serializer_class = rtype.get_serializer_class()
    tag = request.POST.get("tag", "").strip()
    owner = request.POST.get("owner", "")
    if action in ("add_tag", "remove_tag") and not tag:
        messages.error(request, "Tag: give the tag to add or remove.")
        return redirect(back)
    if action == "assign_owner" and not (
        is_id(owner) and get_user_model().objects.filter(pk=owner, is_active=True).exists()
    ):
        messages.error(request, "Owner: choose an active user.")
        return redirect(back)
    done = 0
    try:
        with transaction.atomic():
            for record in records:
                if action == "delete":
                    services.delete_record(record, actor=user, source="ui")
                    done += 1
                    continue
                if action == "assign_owner":
                    data: dict[str, Any] = {"owner": owner}
                elif action == "add_tag":
                    data = {"tags": [*record.tags, tag]}
                else:
                    data = {"tags": [t for t in record.tags if t.lower() != tag.lower()]}
                serializer = serializer_class(record, data=data, partial=True, context={"actor": user})
                if not serializer.is_valid():
                    raise ValidationError(
                        "; ".join(f"{k}: {' '.join(v)}" for k, v in flatten(serializer.errors).items())
                    )
                before = record.version
                updated = services.update_record(record, serializer.validated_data, actor=user, source="ui")
                done += 1 if updated.version != before else 0
    except ValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        text = "; ".join(f"{k}: {' '.join(v)}" if k else " ".join(v) for k, v in flatten(detail).items())
        messages.error(request, f"Nothing was changed. {text}")
        return redirect(back)
    except (PermissionDenied, RecordError) as exc:
        messages.error(request, f"Nothing was changed. {exc}")
        return redirect(back)
    label = rtype.label_plural.lower() if done != 1 else rtype.label.lower()
    verb = "Deleted" if action == "delete" else "Updated"
    text = f"{verb} {done} {label}."
    if skipped:
        text += f" {skipped} skipped: you may not {permission} them."
    messages.success(request, text)
    return redirect(back)


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
