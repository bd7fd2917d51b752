"""Detail page (fields, custom fields, related records, history), create and edit forms and delete,
for every registered record type."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from rest_framework import serializers

from rapport.core import customfields, registry, services, visibility
from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.inputs import is_id
from rapport.core.merged import history_ids, survivor_of
from rapport.core.models import Event, Record
from rapport.core.normalize import format_phone
from rapport.core.registry import RecordType
from rapport.core.serializers import RecordLinkField

from . import display
from .common import page, record_type
from .forms import (
    FormField,
    apply_errors,
    build_fields,
    fill_initial,
    fill_posted,
    resolve_labels,
    to_data,
)

HISTORY_PAGE = 20
RELATED_PAGE = 10


def _get_record(rtype: RecordType, user: Any, pk: int, action: str = "view") -> Record:
    qs = rtype.model.objects.visible_to(user, action)
    if rtype.select_related:
        qs = qs.select_related(*rtype.select_related)
    if rtype.prefetch_related:
        qs = qs.prefetch_related(*rtype.prefetch_related)
    record = qs.filter(pk=pk).first()
    if record is None:
        raise Http404("No such record.")
    return record


# --- detail -----------------------------------------------------------------------------------
def _history(rtype: RecordType, record: Record, user: Any, before: str, defs: list[Any]) -> dict[str, Any]:
    # Its history includes the records merged into it (core.merged).
    ids = history_ids(rtype.key, record.pk)
    qs = Event.objects.filter(type_key=rtype.key, record_id__in=ids).select_related("actor").order_by("-id")
    if is_id(before):
        qs = qs.filter(id__lt=int(before))
    events = list(qs[: HISTORY_PAGE + 1])
    more = len(events) > HISTORY_PAGE
    events = events[:HISTORY_PAGE]
    names = display.Names(user)
    renderer = display.HistoryRenderer(rtype, defs, names)
    for e in events:
        renderer.collect(e.changes or {})
    names.resolve()
    actors = display.actor_names(events)
    items = [
        {
            "event": e,
            "actor": actors[e.pk],
            "when": display.local_datetime(e.occurred_at),
            "changes": renderer.rows(e.changes or {}, record),
            "merged_from": e.record_title or f"#{e.record_id}" if e.record_id != record.pk else "",
        }
        for e in events
    ]
    return {"items": items, "next_before": events[-1].pk if more and events else None}


def _child_item(child: serializers.Serializer, obj: Any, user: Any) -> dict[str, Any]:
    """A child row on the detail page; a row that stands for a linked record (a deal's contact)
    shows that record's name only to whoever may see it (core.visibility.link_label)."""
    link = next((n for n, cf in child.fields.items() if isinstance(cf, RecordLinkField)), None)
    linked = getattr(obj, link, None) if link and not hasattr(obj, "name") else None
    if linked is None and hasattr(obj, "type_key") and hasattr(obj, "record_id"):  # an activity's link
        target = registry.find(obj.type_key)
        linked = target.model.objects.live().filter(pk=obj.record_id).first() if target else None
        if linked is None:
            return {"text": f"#{obj.record_id}", "url": "", "primary": False, "extra": ""}
    if linked is None:
        return {"text": str(obj), "url": "", "primary": False, "extra": ""}
    type_key = linked.record_type_key
    label = visibility.link_label(user, type_key, str(linked), owner_id=linked.owner_id, team_id=linked.team_id)
    extra = ", ".join(
        str(getattr(obj, f"get_{n}_display")()) for n in child.fields if n != link and hasattr(obj, f"get_{n}_display")
    )
    if label is None:
        return {"text": f"#{linked.pk}", "url": "", "primary": False, "extra": extra}
    return {"text": label, "url": f"/{type_key}/{linked.pk}/", "primary": False, "extra": extra}


def _fields(rtype: RecordType, record: Record, user: Any) -> list[dict[str, Any]]:
    serializer = rtype.get_serializer_class()()
    out: list[dict[str, Any]] = []
    for name, f in serializer.fields.items():
        if f.read_only or name in ("custom", "tags", "notes", "owner"):
            continue
        label = str(f.label or name)
        lines = display.child_lines(rtype, name, record, user) if isinstance(f, serializers.ListSerializer) else None
        if lines is not None:
            items = [{"text": text, "url": "", "primary": False, "extra": ""} for text in lines]
            out.append({"name": name, "label": label, "list": items, "value": None})
        elif isinstance(f, serializers.ListSerializer):
            items = []
            for obj in record.related_items(name):
                if hasattr(obj, "email"):
                    items.append(
                        {"text": obj.email, "url": f"mailto:{obj.email}", "primary": obj.is_primary, "extra": ""}
                    )
                elif hasattr(obj, "number"):
                    kind = obj.get_kind_display() if hasattr(obj, "get_kind_display") else ""
                    items.append(
                        {
                            "text": format_phone(obj.number),
                            "url": display.dial_url(obj.number),
                            "primary": obj.is_primary,
                            "extra": kind,
                        }
                    )
                else:
                    items.append(_child_item(cast(Any, f.child), obj, user))
            out.append({"name": name, "label": label, "list": items, "value": None})
        else:
            value = display.model_value(rtype, record, name, user)
            out.append({"name": name, "label": label, "list": None, "value": value})
    return out


def _related(rtype: RecordType, record: Record, user: Any) -> list[dict[str, Any]]:
    out = []
    for type_key, fk in rtype.related:
        other = registry.find(type_key)
        if other is None or user.scope_for(type_key, "view") is None:
            continue
        fields = ["id", "updated_at", *other.title_fields]
        rows = list(
            other.model.objects.visible_to(user)
            .filter(**{f"{fk}_id": record.pk})
            .order_by("-updated_at", "-id")
            .values(*fields)[: RELATED_PAGE + 1]
        )
        more = len(rows) > RELATED_PAGE
        filt = next((f.name for f in other.filters if f.path in (f"{fk}_id", fk)), "")
        out.append(
            {
                "rtype": other,
                "rows": [
                    {
                        "url": f"/{type_key}/{r['id']}/",
                        "title": " ".join(str(r[t] or "") for t in other.title_fields).strip() or f"#{r['id']}",
                        "updated": display.local_datetime(r["updated_at"]),
                    }
                    for r in rows[:RELATED_PAGE]
                ],
                "more": more,
                "all_url": f"/{type_key}/?{filt}={record.pk}" if filt else "",
                "new_url": f"/{type_key}/new/?{fk}={record.pk}",
                "can_add": user.scope_for(type_key, "add") is not None,
            }
        )
    return out


@page
def detail(request: HttpRequest, type_key: str, pk: int) -> HttpResponse:
    user = request.user
    rtype = record_type(type_key, user)
    try:
        record = _get_record(rtype, user, pk)
    except Http404:
        survivor = _merged_into(rtype, user, pk)
        if survivor is None:
            raise
        messages.info(request, f"That {rtype.label.lower()} (#{pk}) was merged into this one.")
        return redirect(f"/{rtype.key}/{survivor}/")
    defs = customfields.definitions(rtype.key)
    history = _history(rtype, record, user, request.GET.get("history_before", ""), defs) if rtype.detail_history else {}
    if rtype.detail_history and request.headers.get("HX-Request") and "history_before" in request.GET:
        return render(request, "web/_history.html", {"history": history, "rtype": rtype, "record": record})
    names = display.Names(user)
    for d in defs:
        display.want_custom(d, record.custom.get(d.key), names)
    names.resolve()
    custom = [{"label": d.label, "value": display.custom_shown(d, record.custom.get(d.key), names)} for d in defs]
    fields = _fields(rtype, record, user)
    context = {
        "rtype": rtype,
        "record": record,
        "title": str(record),
        "fields": fields,
        "custom": custom,
        "owner": record.owner,
        "related": _related(rtype, record, user),
        "history": history,
        "can_change": visibility.can(user, record, "change"),
        "can_delete": visibility.can(user, record, "delete"),
    }
    if rtype.detail_context is not None:
        extra = rtype.detail_context(record, user)
        shown_elsewhere = set(extra.pop("fields_shown_elsewhere", ()))  # e.g. a deal's stage, on its bar
        context.update(extra, fields=[f for f in fields if f["name"] not in shown_elsewhere])
    # Filled fields first; the empty ones fold away under "N empty fields" (still one click from sight).
    shown: list[dict[str, Any]] = context["fields"]  # type: ignore[assignment]
    context["fields"] = [f for f in shown if not _is_empty(f)]
    context["empty_fields"] = [f for f in shown if _is_empty(f)]
    return render(request, rtype.detail_template, context)


def _is_empty(f: dict[str, Any]) -> bool:
    if f["list"] is not None:
        return not f["list"]
    value = f["value"]
    return value is None or not (value.text or value.url or value.items or value.lines)


# --- forms ------------------------------------------------------------------------------------
def _render_form(
    request: HttpRequest,
    rtype: RecordType,
    specs: list[FormField],
    *,
    record: Record | None,
    errors: list[str] | None = None,
    conflict: list[dict[str, Any]] | None = None,
    version: int | None = None,
    status: int = 200,
    duplicates: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    if rtype.form_setup is not None:
        posted = request.method == "POST"
        params = request.POST if posted else request.GET
        rtype.form_setup(specs, instance=record, user=request.user, params=params, posted=posted)
    resolve_labels(specs, request.user)
    context = {
        "rtype": rtype,
        "record": record,
        "fields": specs,
        "errors": errors or [],
        "conflict": conflict,
        "duplicates": duplicates or [],
        "version": version if version is not None else (record.version if record is not None else None),
        "action": f"/{rtype.key}/{record.pk}/edit/" if record is not None else f"/{rtype.key}/new/",
        "cancel": f"/{rtype.key}/{record.pk}/" if record is not None else f"/{rtype.key}/",
    }
    return render(request, "web/form.html", context, status=status)


def _conflict_values(rtype: RecordType, fresh: Record, specs: list[FormField], user: Any) -> list[dict[str, Any]]:
    """The saved values of fields that now differ from what the user typed."""
    current = [
        FormField(
            s.name,
            s.label,
            s.widget,
            parts=s.parts,
            custom=s.custom,
            link_type=s.link_type,
            link_part=s.link_part,
            type_part=s.type_part,
            choices=s.choices,
        )
        for s in specs
    ]
    fill_initial(current, rtype, fresh, user)
    resolve_labels(current, user)
    typed = {s.name: s for s in specs}
    out = []
    for c in current:
        if c.value == typed[c.name].value:
            continue
        if c.widget == "rows":
            text = ", ".join(str(r.get(c.parts[0].name, "")) for r in c.value if r.get(c.parts[0].name))
        elif c.widget == "links":
            text = ", ".join(label for label, _ in c.chip_labels)
        elif c.widget == "select":
            text = dict(c.choices).get(str(c.value), str(c.value))
        elif c.widget in ("record", "user"):
            text = c.display
        elif c.widget == "money":
            text = f"{c.value.get('amount', '')} {c.value.get('currency', '')}".strip()
        elif c.widget == "multi":
            text = ", ".join(c.value)
        elif c.widget == "checkbox":
            text = "Yes" if c.value else "No"
        else:
            text = str(c.value)
        out.append({"label": c.label, "value": text or "—"})
    return out


def _save(request: HttpRequest, rtype: RecordType, record: Record | None) -> HttpResponse:
    user = request.user
    serializer_class = rtype.get_serializer_class()
    specs = build_fields(rtype, serializer_class())
    if request.method != "POST":
        fill_initial(specs, rtype, record, user)
        if record is None:
            _prefill_from_query(request, specs, user)
        return _render_form(request, rtype, specs, record=record)

    fill_posted(specs, request.POST)
    data = to_data(specs, record)
    version_text = request.POST.get("version", "")
    expected = int(version_text) if is_id(version_text) else None
    serializer = serializer_class(record, data=data, partial=record is not None, context={"actor": user})
    if not serializer.is_valid():
        leftover = apply_errors(specs, serializer.errors)
        return _render_form(
            request,
            rtype,
            specs,
            record=record,
            errors=["Please correct the fields marked below.", *leftover],
            version=expected,
            status=400,
        )
    try:
        if record is None:
            try:
                saved = _create_checked(
                    rtype, serializer.validated_data, user, anyway=bool(request.POST.get("create_anyway"))
                )
            except _LikelyDuplicates as held:
                # Nothing is kept; "Create anyway" posts the same values again.
                return _render_form(request, rtype, specs, record=None, duplicates=_match_rows(rtype, held.matches))
            messages.success(request, f"Created {rtype.label.lower()} “{saved}”.")
        else:
            saved = services.update_record(
                record, serializer.validated_data, actor=user, source="ui", expected_version=expected
            )
            messages.success(request, f"Saved {rtype.label.lower()} “{saved}”.")
    except VersionConflict:
        fresh = _get_record(rtype, user, record.pk) if record is not None else None
        assert fresh is not None
        return _render_form(
            request,
            rtype,
            specs,
            record=fresh,
            errors=[
                "This record was changed by someone else while you were editing it. Your changes are "
                "still in the form; check the saved values below and save again to keep yours."
            ],
            conflict=_conflict_values(rtype, fresh, specs, user),
            version=fresh.version,
            status=409,
        )
    except ValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        leftover = apply_errors(specs, detail)
        return _render_form(
            request,
            rtype,
            specs,
            record=record,
            errors=leftover or ["Please correct the fields marked below."],
            version=expected,
            status=400,
        )
    except (PermissionDenied, RecordGone) as exc:
        return _render_form(request, rtype, specs, record=record, errors=[str(exc)], version=expected, status=403)
    return redirect(f"/{rtype.key}/{saved.pk}/")


class _LikelyDuplicates(Exception):
    def __init__(self, matches: list[Any]):
        super().__init__("likely duplicates")
        self.matches = matches


def _create_checked(rtype: RecordType, data: dict[str, Any], user: Any, *, anyway: bool) -> Record:
    """Create the record; for types that declare an identity, first in a transaction that is rolled
    back when the user may view likely duplicates of it (rapport.duplicates.finder), so the rules of
    the write (a taken email…) answer before the warning and a warning is never shown for a record
    that could not be created. With ``anyway`` the record stays and the pairs go to the review queue."""
    if rtype.identity is None:
        return services.create_record(rtype.model, data, actor=user, source="ui")
    from rapport.duplicates import finder

    with transaction.atomic():
        saved = services.create_record(rtype.model, data, actor=user, source="ui")
        matches = finder.likely_duplicates(rtype, data, actor=user, exclude_id=saved.pk)
        if matches and not anyway:
            raise _LikelyDuplicates(matches)
        if matches:
            _remember(rtype, saved.pk, matches)
    return saved


def _match_rows(rtype: RecordType, matches: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "title": m.title,
            "url": f"/{rtype.key}/{m.record_id}/",
            "percent": round(m.score * 100),
            "reasons": m.reason_text,
        }
        for m in matches
    ]


def _remember(rtype: RecordType, record_id: int, matches: list[Any]) -> None:
    """A record created despite the warning: its likely duplicates wait in the review queue."""
    from rapport.duplicates import services as duplicates

    duplicates.remember_matches(rtype, record_id, matches, found_by="create")


def _prefill_from_query(request: HttpRequest, specs: list[FormField], user: Any) -> None:
    """``/people/new/?company=3`` (from a company's related list) preselects the company;
    ``/deals/new/?person=5`` starts the deal's contact rows with that person."""
    for spec in specs:
        value = request.GET.get(spec.name, "")
        if spec.widget == "record" and is_id(value):
            spec.value = value
        elif spec.widget in ("rows", "links"):
            for part in spec.parts:
                linked = request.GET.get(part.name, "")
                if is_id(linked):
                    spec.value = [{**(spec.value[0] if spec.value else {}), part.name: linked}]


@page
def create(request: HttpRequest, type_key: str) -> HttpResponse:
    rtype = record_type(type_key, request.user, "add")
    return _save(request, rtype, None)


@page
def edit(request: HttpRequest, type_key: str, pk: int) -> HttpResponse:
    user = request.user
    rtype = record_type(type_key, user)
    record = _get_record(rtype, user, pk)
    if not visibility.can(user, record, "change"):
        raise Forbidden("You may not change this record.")
    return _save(request, rtype, record)


def _merged_into(rtype: RecordType, user: Any, pk: int) -> int | None:
    """The record a binned ``pk`` was merged into, when the user may see both (its address leads there)."""
    if not rtype.model.objects.visible_to(user, deleted=True).filter(pk=pk).exists():
        return None
    survivor = survivor_of(rtype.key, pk)
    if survivor is None or not rtype.model.objects.visible_to(user).filter(pk=survivor).exists():
        return None
    return survivor


@page
def delete(request: HttpRequest, type_key: str, pk: int) -> HttpResponse:
    user = request.user
    rtype = record_type(type_key, user)
    record = _get_record(rtype, user, pk)
    if not visibility.can(user, record, "delete"):
        raise Forbidden("You may not delete this record.")
    if request.method != "POST":
        return render(request, "web/confirm_delete.html", {"rtype": rtype, "record": record})
    try:
        services.delete_record(record, actor=user, source="ui")
    except (PermissionDenied, RecordGone) as exc:
        messages.error(request, str(exc))
        return redirect(f"/{rtype.key}/")
    messages.success(request, f"Moved {rtype.label.lower()} “{record}” to the recycle bin.")
    return redirect(f"/{rtype.key}/")
