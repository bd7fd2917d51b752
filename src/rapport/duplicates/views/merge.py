"""The merge pages: side-by-side comparison of 2–5 records with a choice per field and of the record
that stays, a review of what will happen, the merge, and its undo (``duplicates.merge``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rapport.core import customfields, formatting, registry
from rapport.core.errors import RecordError
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.core.models import Record
from rapport.core.registry import RecordType
from rapport.web import display
from rapport.web.common import error_page, object_page, page, record_type, signed_in

from .. import merge as merging
from ..models import Merge


@dataclass
class Cell:
    record_id: int
    shown: display.Shown
    empty: bool
    checked: bool = False


@dataclass
class Row:
    name: str
    label: str
    cells: list[Cell]
    choose: bool  # the values differ: a radio per record
    note: str = ""


@dataclass
class Related:
    label: str  # plural
    one: str  # singular
    counts: list[int] = field(default_factory=list)


def _parse_ids(raw: str) -> list[int]:
    parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not all(is_id(p) for p in parts):
        raise Http404("No such records.")
    ids = list(dict.fromkeys(int(p) for p in parts))
    if not 2 <= len(ids) <= merging.MAX_RECORDS:
        raise Http404("No such records.")
    return ids


def _records(rtype: RecordType, user: Any, ids: list[int]) -> list[Record]:
    """The records, in the order asked, all visible to ``user`` (404 otherwise, as a missing id);
    visible but not changeable and deletable: 403."""
    qs = rtype.model.objects.visible_to(user).filter(pk__in=ids)
    if rtype.select_related:
        qs = qs.select_related(*rtype.select_related)
    if rtype.prefetch_related:
        qs = qs.prefetch_related(*rtype.prefetch_related)
    found = {r.pk: r for r in qs}
    if len(found) != len(ids):
        raise Http404("No such records.")
    records = [found[pk] for pk in ids]
    from rapport.core.visibility import can

    if not all(can(user, r, "change") and can(user, r, "delete") for r in records):
        raise Forbidden("You may merge only records you may both change and delete.")
    return records


def _label(rtype: RecordType, name: str) -> str:
    cols = {c.path: c.label for c in rtype.columns}
    if name in cols:
        return cols[name]
    try:
        return str(rtype.model._meta.get_field(name).verbose_name).capitalize()  # type: ignore[union-attr]
    except Exception:
        return formatting.humanize_key(name)


def _rows(rtype: RecordType, records: list[Record], user: Any, choices: dict[str, int]) -> list[Row]:
    defs = {d.key: d for d in customfields.definitions(rtype.key)}
    names = display.Names(user)
    renderer = display.HistoryRenderer(rtype, list(defs.values()), names)
    values: dict[str, list[Any]] = {}
    for name in merging.merge_fields(rtype):
        if name.startswith(merging.CUSTOM_PREFIX):
            values[name] = [(r.custom or {}).get(name[len(merging.CUSTOM_PREFIX) :]) for r in records]
            for v in values[name]:
                display.want_custom(defs[name[len(merging.CUSTOM_PREFIX) :]], v, names)
            continue
        snap = [r.snapshot().get(name) for r in records] if name in rtype.model.related_write_keys else None
        values[name] = snap if snap is not None else [merging.field_value(r, name) for r in records]
        for a in values[name]:
            renderer.collect({name: [a, None]})
    names.resolve()
    currency = renderer.currency_path
    rows = []
    for name, vals in values.items():
        if all(v in (None, "", [], {}) for v in vals):
            continue
        cells = []
        for r, v in zip(records, vals, strict=True):
            if name.startswith(merging.CUSTOM_PREFIX):
                shown = display.custom_shown(defs[name[len(merging.CUSTOM_PREFIX) :]], v, names)
            else:
                shown = renderer.shown(name, v, getattr(r, currency, None) if currency else None)
            cells.append(Cell(r.pk, shown, v in (None, "", [], {}), checked=choices.get(name) == r.pk))
        label = defs[name[3:]].label if name.startswith(merging.CUSTOM_PREFIX) else _label(rtype, name)
        keyed = name in rtype.model.related_write_keys and merging.child_list(rtype.model, name).key is not None
        union = name in merging.UNION_FIELDS
        differ = len({repr(v) for v in vals}) > 1
        note = ""
        if keyed:
            note = "All are kept; the chosen record's come first."
        elif union:
            note = "All are kept."
        rows.append(Row(name, label, cells, choose=differ and not union, note=note if differ else ""))
    return rows


def _related(rtype: RecordType, records: list[Record], user: Any) -> list[Related]:
    """Counts of the visible records linked to each one (one grouped query per relation)."""
    ids = [r.pk for r in records]
    out = []
    for rel in merging.relations_to(rtype.model):
        if rel.kind == merging.LINK:
            holder = registry.for_model(rel.model)
            qs = holder.model.objects.visible_to(user).filter(**{f"{rel.field.name}__in": ids})
            counts = dict(qs.values_list(rel.field.attname).annotate(n=Count("pk")).values_list(rel.field.attname, "n"))
            below = "" if rel.model is not rtype.model else " below it"
            label, one = holder.label_plural + below, holder.label + below
        elif rel.kind == merging.CHILD:
            parent_fk, _ = rel.detail.split(".")
            parent = registry.for_model(merging.target(rel.model, parent_fk))
            visible = parent.model.objects.visible_to(user).values("pk")
            rows: Any = rel.model._base_manager.filter(**{f"{rel.field.name}__in": ids, f"{parent_fk}__in": visible})
            counts = dict(
                rows.values_list(rel.field.attname)
                .annotate(n=Count(parent_fk, distinct=True))
                .values_list(rel.field.attname, "n")
            )
            label, one = parent.label_plural, parent.label
        else:
            continue
        out.append(Related(label, one, [counts.get(pk, 0) for pk in ids]))
    activities = registry.find("activities")
    if activities is not None and activities.key != rtype.key and user.scope_for("activities", "view") is not None:
        link_model = merging.target(activities.model, "links")
        visible = activities.model.objects.visible_to(user).values("pk")
        qs = link_model._base_manager.filter(type_key=rtype.key, record_id__in=ids, activity__in=visible)
        counts = dict(qs.values_list("record_id").annotate(n=Count("activity")).values_list("record_id", "n"))
        out.append(Related(activities.label_plural, activities.label, [counts.get(pk, 0) for pk in ids]))
    return [r for r in out if any(r.counts)]


def _summary(related: list[Related], records: list[Record], survivor: int) -> str:
    parts = []
    for rel in related:
        n = sum(c for r, c in zip(records, rel.counts, strict=True) if r.pk != survivor)
        if n:
            parts.append(f"{formatting.number(n)} {(rel.one if n == 1 else rel.label).lower()}")
    if not parts:
        return ""
    return (", ".join(parts[:-1]) + " and " + parts[-1]) if len(parts) > 1 else parts[0]


def _default_survivor(records: list[Record]) -> int:
    return min(records, key=lambda r: (r.created_at, r.pk)).pk


def _posted_choices(request: HttpRequest, rtype: RecordType, ids: list[int]) -> dict[str, int]:
    out = {}
    for name in merging.merge_fields(rtype):
        raw = request.POST.get(f"f_{name}", "")
        if is_id(raw) and int(raw) in ids:
            out[name] = int(raw)
    return out


@page
def merge_page(request: HttpRequest, type_key: str) -> HttpResponse:
    """GET: the comparison. POST ``step=review``: what will happen; ``step=merge``: merge."""
    user = signed_in(request)
    rtype = record_type(type_key, user, "change")
    params = request.POST if request.method == "POST" else request.GET
    ids = _parse_ids(params.get("ids", ""))
    records = _records(rtype, user, ids)
    survivor = int(params["survivor"]) if is_id(params.get("survivor", "")) and int(params["survivor"]) in ids else None
    survivor = survivor or _default_survivor(records)
    ordered = [next(r for r in records if r.pk == survivor), *[r for r in records if r.pk != survivor]]
    if request.method == "POST":
        posted = _posted_choices(request, rtype, ids)
        choices = {**merging.default_choices(rtype, ordered), **posted}
    else:
        posted = {}
        choices = merging.default_choices(rtype, ordered)
    step = request.POST.get("step", "") if request.method == "POST" else ""
    if step == "merge":
        others = [r.pk for r in records if r.pk != survivor]
        try:
            merge = merging.merge_records(rtype, survivor, others, choices=posted, actor=user, source="ui")
        except merging.NoSuchRecord:
            raise Http404("No such records.")
        except (merging.MergeError, RecordError) as exc:
            messages.error(request, f"Nothing was merged. {exc}")
            return redirect(f"/duplicates/merge/{rtype.key}/?ids={','.join(map(str, ids))}")
        except ValidationError as exc:
            text = "; ".join(exc.messages)
            messages.error(request, f"Nothing was merged. {text}")
            return redirect(f"/duplicates/merge/{rtype.key}/?ids={','.join(map(str, ids))}")
        count = len(others)
        messages.success(
            request,
            f"Merged {count} {rtype.label.lower() if count == 1 else rtype.label_plural.lower()} into this one.",
            extra_tags=f"undo-merge-{merge.pk}",
        )
        return redirect(f"/{rtype.key}/{survivor}/")
    rows = _rows(rtype, records, user, choices)
    related = _related(rtype, records, user)
    keep = next(r for r in records if r.pk == survivor)
    context = {
        "rtype": rtype,
        "records": records,
        "rows": rows,
        "related": related,
        "survivor": survivor,
        "keep": keep,
        "ids": ",".join(map(str, ids)),
        "review": step == "review",
        "summary": _summary(related, records, survivor),
        "posted": posted,
        "others": [r for r in records if r.pk != survivor],
    }
    if step == "review":
        context["result"] = _result_rows(rows, choices)
    return render(request, "duplicates/merge.html", context)


def _result_rows(rows: list[Row], choices: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        cell = next((c for c in row.cells if c.record_id == choices.get(row.name)), row.cells[0])
        text = cell.shown.text
        if row.note:
            text = "; ".join(dict.fromkeys(c.shown.text for c in row.cells if not c.empty))
        out.append({"label": row.label, "text": text or "—"})
    return out


@page
def merge_detail(request: HttpRequest, merge_id: int) -> HttpResponse:
    """A merge: when, by whom, which records, and its undo."""
    user = signed_in(request)
    merge, rtype = _visible_merge(user, merge_id)
    names = display.Names(user)
    for pk in merge.merged_ids:
        names.want_record(rtype.key, pk)
    names.want_record(rtype.key, merge.survivor_id)
    names.resolve()
    from rapport.core.visibility import can

    survivor = rtype.model.objects.filter(pk=merge.survivor_id).first()
    context = {
        "merge": merge,
        "rtype": rtype,
        "survivor": names.record_shown(rtype.key, merge.survivor_id),
        "merged": [(pk, names.record_shown(rtype.key, pk)) for pk in merge.merged_ids],
        "when": display.local_datetime(merge.created_at),
        "undone_when": display.local_datetime(merge.undone_at) if merge.undone_at else "",
        "can_undo": merge.undone_at is None and survivor is not None and can(user, survivor, "change"),
    }
    return render(request, "duplicates/merge_detail.html", context)


@page
def merge_list(request: HttpRequest) -> HttpResponse:
    """The merges whose remaining record the user may see, newest first, each with its undo."""
    user = signed_in(request)
    visible = Q(pk__in=[])
    for rtype in registry.all_types():
        if user.scope_for(rtype.key, "view") is not None:
            ids = rtype.model.objects.visible_to(user).values("pk")
            visible |= Q(type_key=rtype.key, survivor_id__in=ids)
    try:
        pg = object_page(request, Merge.objects.filter(visible).select_related("actor"), "created_at")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/duplicates/merges/")
    names = display.Names(user)
    for m in pg.objects:
        names.want_record(m.type_key, m.survivor_id)
    names.resolve()
    rows = [
        {
            "merge": m,
            "rtype": registry.find(m.type_key),
            "survivor": names.record_shown(m.type_key, m.survivor_id),
            "count": len(m.merged_ids),
            "when": display.local_datetime(m.created_at),
        }
        for m in pg.objects
    ]
    return render(request, "duplicates/merge_list.html", {"rows": rows, "pager": pg})


def _visible_merge(user: Any, merge_id: int) -> tuple[Merge, RecordType]:
    merge = Merge.objects.select_related("actor").filter(pk=merge_id).first()
    rtype = registry.find(merge.type_key) if merge else None
    if merge is None or rtype is None or not rtype.model.objects.visible_to(user).filter(pk=merge.survivor_id).exists():
        raise Http404("No such merge.")
    return merge, rtype


@page
@require_POST
def undo(request: HttpRequest, merge_id: int) -> HttpResponse:
    user = signed_in(request)
    merge, rtype = _visible_merge(user, merge_id)
    try:
        merging.undo_merge(merge, actor=user, source="ui")
    except merging.NoSuchRecord:
        raise Http404("No such merge.")
    except (merging.MergeError, RecordError) as exc:
        messages.error(request, f"The merge was not undone. {exc}")
        return redirect(f"/duplicates/merges/{merge.pk}/")
    except ValidationError as exc:
        messages.error(request, f"The merge was not undone. {'; '.join(exc.messages)}")
        return redirect(f"/duplicates/merges/{merge.pk}/")
    n = len(merge.merged_ids)
    messages.success(
        request, f"Merge undone: {n} {rtype.label.lower() if n == 1 else rtype.label_plural.lower()} restored."
    )
    return redirect(f"/{rtype.key}/{merge.survivor_id}/")
