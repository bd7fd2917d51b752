"""Merge of two or more records of one type into a survivor, and its undo.

One transaction, the merged rows locked. The survivor takes each field's chosen value (custom
fields included); child lists are combined (a person's emails and phones: union without repeats, the
chosen record's first so its primary stays primary); every relation pointing at the merged records
is re-pointed to the survivor — found generically (:func:`relations_to`: every foreign key and
many-to-many of every installed model whose target is the type's model, each classified below; an
unclassified one makes :func:`merge_records` refuse and the generic test fail), plus activity links
and reference custom fields, which point by (type, id). Every record whose stored values change goes
through the write services (an event, a version bump, a fresh search entry). The merged records go
to the bin (``deleted`` event) with a ``merged`` event naming the survivor; the survivor gets a
``merged`` event naming them (``core.merged``: its history and timeline then show theirs). ``merged``
events change no stored value, so they bump no version (``Event.VERSION_KINDS`` is unchanged).

Order of the writes: relations first, then the merged records to the bin (which frees what they hold
unique: a person's emails, a company's domain), then the survivor's new values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from rapport.core import customfields, registry, search
from rapport.core.errors import VersionConflict
from rapport.core.models import CustomField, Record, to_json_value
from rapport.core.registry import RecordType
from rapport.core.services import delete_record, record_event, restore_record, update_record, update_records_in_bulk
from rapport.core.visibility import can

from .models import Merge, MergedRecord

MAX_RECORDS = 5  # survivor included

# How each kind of relation to a merged record is handled.
LINK = "link"  # a foreign key column of a registered record type: re-pointed with update_records_in_bulk
CHILD = "child"  # a child row of a registered record (part of its history): update_record on its parent
OWN = "own"  # the merged type's own child rows: combined into the survivor's list
DOCUMENT = "document"  # rows that are not records (quotes, quote lines): moved as they are
STAYS = "stays"  # the merged record's own history (stage changes, reminders): stays with it, in the bin
# A many-to-many table's rows (mail messages and their people): moved to the survivor; a row that would then
# repeat one the survivor has is dropped (undo puts it back). Detail: the table's other column.
LINKSET = "linkset"
THROUGH = "through"  # the many-to-many field itself: its LINKSET table does the moving

# Relations held by models that are not registered record types, "app.Model.field" -> (kind, detail):
# OWN: the write key of the list; CHILD: "<parent foreign key>.<parent's write key>". A foreign key of
# a registered type is a LINK without being listed. A relation found in neither makes merging refuse.
RELATIONS: dict[str, tuple[str, str]] = {
    "contacts.PersonEmail.person": (OWN, "emails"),
    "contacts.PersonPhone.person": (OWN, "phones"),
    "deals.DealContact.deal": (OWN, "contacts"),
    "deals.DealContact.person": (CHILD, "deal.contacts"),
    "quotes.LineItem.deal": (OWN, "line_items"),
    "quotes.LineItem.product": (CHILD, "deal.line_items"),
    "quotes.ProductPrice.product": (OWN, "prices"),
    "activities.ActivityLink.activity": (OWN, "links"),
    "quotes.Quote.deal": (DOCUMENT, ""),
    "quotes.QuoteLine.product": (DOCUMENT, ""),
    "deals.StageChange.deal": (STAYS, ""),
    "activities.Reminder.activity": (STAYS, ""),
    "activities.Notification.activity": (STAYS, ""),
    "mail.Message_people.person": (LINKSET, "message"),
    "mail.Message.people": (THROUGH, ""),
    "mail.Message_companies.company": (LINKSET, "message"),
    "mail.Message.companies": (THROUGH, ""),
    "mail.Thread_deals.deal": (LINKSET, "thread"),
    "mail.Thread.deals": (THROUGH, ""),
    # A merged-away person's sequence enrolments end with them (a step finds the person binned and stops), and a
    # step's record of the task it created keeps pointing at it: moving either could enrol the survivor twice.
    "sequences.Enrolment.person": (STAYS, ""),
    "sequences.StepRun.activity": (STAYS, ""),
}


class MergeError(Exception):
    """A merge or undo that cannot be done; ``field`` names what was wrong (400)."""

    def __init__(self, message: str, field: str = "__all__"):
        super().__init__(message)
        self.field = field


class NoSuchRecord(MergeError):
    """A record that does not exist, is in the bin or is outside the actor's scope (404: the same
    answer for all three)."""


class MergeConflict(MergeError):
    """An undo that would overwrite later changes (409)."""


# --- child lists -------------------------------------------------------------------------------
def _dec(value: Any) -> Any:
    return Decimal(str(value)) if value not in (None, "") else value


def _stub(model: type[models.Model], pk: Any) -> Any:
    if pk is None:
        return None
    obj = model(pk=pk)
    obj._state.adding = False
    return obj


@dataclass(frozen=True)
class ChildList:
    """A list a record writes with its own values (``Record.related_write_keys``), as the merge reads
    it (JSON rows, stored in the Merge row for undo) and gives it back to the write service."""

    read: Callable[[Any], list[dict[str, Any]]]
    # The key that makes two rows the same (union without repeats); None: not combined, the list is
    # taken whole from the chosen record (a deal's line items would otherwise add up twice).
    key: Callable[[dict[str, Any]], Any] | None
    to_write: Callable[[type[Record], list[dict[str, Any]]], list[dict[str, Any]]]
    link: str = ""  # the row's part naming a record (re-pointed by CHILD relations)
    primary: bool = False  # rows carry "primary": only the first keeps it


def _same(model: type[Record], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]


def target(model: Any, name: str) -> Any:
    """The model a relation of ``model`` leads to (a reverse relation's rows, a foreign key's target)."""
    return model._meta.get_field(name).related_model


def _contacts_write(model: type[Record], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    person = target(target(model, "deal_contacts"), "person")
    return [{"person": _stub(person, r["person"]), "role": r["role"]} for r in rows]


def _lines_write(model: type[Record], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    product = target(target(model, "line_items"), "product")
    keys = ("quantity", "unit_price", "discount_percent", "tax_percent")
    return [{**r, "product": _stub(product, r["product"]), **{k: _dec(r[k]) for k in keys}} for r in rows]


def _prices_write(model: type[Record], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"currency": r["currency"], "unit_price": _dec(r["unit_price"])} for r in rows]


CHILD_LISTS: dict[str, ChildList] = {
    "contacts.Person.emails": ChildList(
        read=lambda r: [{"email": e.email, "primary": e.is_primary} for e in r.emails.all()],
        key=lambda row: row["email"].lower(),
        to_write=_same,
        primary=True,
    ),
    "contacts.Person.phones": ChildList(
        read=lambda r: [{"number": p.number, "kind": p.kind, "primary": p.is_primary} for p in r.phones.all()],
        key=lambda row: row["number"],
        to_write=_same,
        primary=True,
    ),
    "deals.Deal.contacts": ChildList(
        read=lambda r: [{"person": c.person_id, "role": c.role} for c in r.deal_contacts.all()],
        key=lambda row: row["person"],
        to_write=_contacts_write,
        link="person",
    ),
    "deals.Deal.line_items": ChildList(
        read=lambda r: [
            {
                "product": i.product_id,
                "name": i.name,
                "quantity": str(i.quantity),
                "unit_price": str(i.unit_price),
                "discount_percent": str(i.discount_percent),
                "tax_percent": str(i.tax_percent),
            }
            for i in r.line_items.all()
        ],
        key=None,
        to_write=_lines_write,
        link="product",
    ),
    "quotes.Product.prices": ChildList(
        read=lambda r: [{"currency": p.currency, "unit_price": str(p.unit_price)} for p in r.prices.all()],
        key=lambda row: row["currency"],
        to_write=_prices_write,
    ),
    "activities.Activity.links": ChildList(
        read=lambda r: [{"type": link.type_key, "id": link.record_id} for link in r.links.all()],
        key=lambda row: (row["type"], row["id"]),
        to_write=_same,
    ),
}


def child_list(model: type[Record], key: str) -> ChildList:
    return CHILD_LISTS[f"{model._meta.label}.{key}"]


# --- the relations to a type --------------------------------------------------------------------
@dataclass(frozen=True)
class Relation:
    label: str  # "app.Model.field"
    model: type[models.Model]
    field: models.Field
    kind: str  # LINK, CHILD, OWN, DOCUMENT, STAYS, or "" when not handled
    detail: str = ""


def _is_record_model(model: type[models.Model]) -> bool:
    key = getattr(model, "record_type_key", "")
    rtype = registry.find(key) if key else None
    return rtype is not None and rtype.model is model


def relations_to(model: type[models.Model]) -> list[Relation]:
    """Every foreign key, one-to-one and many-to-many of every installed model whose target is
    ``model``, each with how a merge handles it (kind "" when it does not)."""
    out = []
    for holder in apps.get_models(include_auto_created=True):
        fields = [*holder._meta.concrete_fields, *holder._meta.many_to_many]
        for f in fields:
            if not f.is_relation or f.related_model is not model:
                continue
            label = f"{holder._meta.label}.{f.name}"
            if label in RELATIONS:
                kind, detail = RELATIONS[label]
            elif _is_record_model(holder) and isinstance(f, models.ForeignKey) and not f.many_to_many:
                kind, detail = LINK, ""
            else:
                kind, detail = "", ""
            out.append(Relation(label, holder, f, kind, detail))
    return out


def unhandled(model: type[models.Model]) -> list[str]:
    return [r.label for r in relations_to(model) if not r.kind]


# --- fields ------------------------------------------------------------------------------------
CUSTOM_PREFIX = "cf_"
# Fields whose value comes with another's choice (a deal's pipeline with its stage: a stage of one
# pipeline and the pipeline of another would be refused).
FOLLOWS: dict[str, dict[str, str]] = {
    "deals": {
        "pipeline": "stage",
        "status": "stage",
        "closed_on": "stage",
        "lost_reason": "stage",
        "probability_overridden": "probability",
    },
}
UNION_FIELDS = ("tags",)  # combined without repeats unless a record is chosen


def merge_fields(rtype: RecordType) -> list[str]:
    """The fields a merge chooses a value for: the model's own (not bookkeeping), each custom field
    as ``cf_<key>``, and the child lists."""
    model = rtype.model
    names = [f.name for f in model.tracked_fields() if f.name != "custom"]
    names += [CUSTOM_PREFIX + d.key for d in customfields.definitions(rtype.key)]
    names += sorted(model.related_write_keys)
    return names


def _empty(value: Any) -> bool:
    return value in (None, "", [], {})


def field_value(record: Record, name: str) -> Any:
    """A field's value as JSON (what the comparison shows and the choice compares)."""
    if name.startswith(CUSTOM_PREFIX):
        return (record.custom or {}).get(name[len(CUSTOM_PREFIX) :])
    if name in type(record).related_write_keys:
        return child_list(type(record), name).read(record)
    f = type(record)._meta.get_field(name)
    return to_json_value(getattr(record, f.attname))  # type: ignore[union-attr]


def default_choices(rtype: RecordType, records: list[Record]) -> dict[str, int]:
    """Per field, the record whose value survives unless chosen otherwise: the survivor's (first)
    when it has one, else the first record that has one."""
    out = {}
    for name in merge_fields(rtype):
        src = next((r for r in records if not _empty(field_value(r, name))), records[0])
        out[name] = src.pk
    return out


# --- merge -------------------------------------------------------------------------------------
def _load(rtype: RecordType, ids: list[int], *, lock: bool) -> dict[int, Record]:
    qs = rtype.model.objects.filter(pk__in=ids)
    if lock:
        qs = qs.select_for_update(of=("self",)).order_by("pk")
    rows = {r.pk: r for r in qs}
    if rtype.prefetch_related:
        models.prefetch_related_objects(list(rows.values()), *rtype.prefetch_related)
    return rows


def _no_such(rtype: RecordType, pk: Any, field: str) -> NoSuchRecord:
    return NoSuchRecord(f"There is no {rtype.label.lower()} #{pk}.", field)


def _check_ids(rtype: RecordType, survivor: Any, others: Any) -> tuple[int, list[int]]:
    if not isinstance(survivor, int) or isinstance(survivor, bool) or not 1 <= survivor <= 2**63 - 1:
        raise MergeError("Give the id of the record that stays.", "survivor")
    if not isinstance(others, list | tuple) or not others:
        raise MergeError("Give the ids of the records to merge into it.", "others")
    if any(not isinstance(o, int) or isinstance(o, bool) or not 1 <= o <= 2**63 - 1 for o in others):
        raise MergeError("Give record ids.", "others")
    ids = list(dict.fromkeys(others))
    if survivor in ids:
        raise MergeError("The record that stays cannot be merged into itself.", "others")
    if len(ids) + 1 > MAX_RECORDS:
        raise MergeError(f"Merge at most {MAX_RECORDS} records at once.", "others")
    return survivor, ids


def merge_records(
    rtype: RecordType,
    survivor: int,
    others: list[int],
    *,
    choices: dict[str, int] | None = None,
    actor: Any,
    source: str,
    expected_version: int | None = None,
) -> Merge:
    """Merge ``others`` into ``survivor`` (ids of records of ``rtype``); ``choices`` names, per field,
    the record whose value survives (default: :func:`default_choices`). The actor needs change on the
    survivor and delete on the others, all visible and live: otherwise :class:`NoSuchRecord`, the
    same answer as a missing id."""
    model = rtype.model
    survivor_id, other_ids = _check_ids(rtype, survivor, others)
    missing = unhandled(model)
    if missing:
        raise MergeError(f"{rtype.label_plural} cannot be merged yet: {', '.join(missing)} is not handled.")
    all_ids = [survivor_id, *other_ids]
    with transaction.atomic():
        rows = _load(rtype, all_ids, lock=True)
        for pk, action, field in [(survivor_id, "change", "survivor"), *[(o, "delete", "others") for o in other_ids]]:
            record = rows.get(pk)
            if (
                record is None
                or record.deleted_at is not None
                or (actor is not None and not can(actor, record, action))
            ):
                raise _no_such(rtype, pk, field)
        survivor_rec = rows[survivor_id]
        if expected_version is not None and survivor_rec.version != expected_version:
            raise VersionConflict(survivor_rec.etag)
        records = [rows[pk] for pk in all_ids]
        chosen = _resolve_choices(rtype, records, choices or {})
        data, before = _survivor_values(rtype, records, chosen, set(choices or {}))
        merge = Merge.objects.create(
            type_key=rtype.key,
            survivor_id=survivor_id,
            merged_ids=other_ids,
            choices={k: v for k, v in chosen.items() if v != survivor_id},
            before=before,
            actor=actor if getattr(actor, "pk", None) else None,
            source=source,
        )
        MergedRecord.objects.bulk_create(
            [MergedRecord(merge=merge, type_key=rtype.key, record_id=o) for o in other_ids]
        )
        moves = _repoint(rtype, survivor_id, other_ids, actor=actor, source=source)
        for o in other_ids:
            binned = delete_record(rows[o], actor=actor, source=source)
            record_event(
                binned,
                "merged",
                actor=actor,
                source=source,
                changes={"merged_into": {"id": survivor_id, "merge": merge.pk}},
            )
        current = _load(rtype, [survivor_id], lock=False)[survivor_id]
        if data:
            current = update_record(current, data, actor=actor, source=source, checked=True)
        record_event(
            current, "merged", actor=actor, source=source, changes={"merge": {"id": merge.pk, "records": other_ids}}
        )
        if any(m["kind"] == DOCUMENT for m in moves):
            search.index_attached([current])  # documents moved to it (a deal's quotes) with its owner and team
        merge.moves = moves
        merge.survivor_version = current.version
        merge.save(update_fields=["moves", "survivor_version"])
    return merge


def _resolve_choices(rtype: RecordType, records: list[Record], choices: dict[str, Any]) -> dict[str, int]:
    fields = merge_fields(rtype)
    ids = {r.pk for r in records}
    if not isinstance(choices, dict):
        raise MergeError("Give {field: record id}.", "fields")
    for name, pk in choices.items():
        if name not in fields:
            raise MergeError(
                f"{name} is not a field of {rtype.label_plural.lower()} that a merge chooses.", f"fields.{name}"
            )
        if pk not in ids or isinstance(pk, bool):
            raise MergeError(
                f"Choose one of the merged records ({', '.join(map(str, sorted(ids)))}).", f"fields.{name}"
            )
    chosen = default_choices(rtype, records)
    chosen.update(choices)
    for name, leader in FOLLOWS.get(rtype.key, {}).items():
        if name in chosen and leader in chosen and name not in choices:
            chosen[name] = chosen[leader]
    return chosen


def _survivor_values(
    rtype: RecordType, records: list[Record], chosen: dict[str, int], explicit: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The write that gives the survivor its merged values, and the same fields as they are (JSON)."""
    model = rtype.model
    survivor = records[0]
    by_id = {r.pk: r for r in records}
    merged = set(by_id) - {survivor.pk}
    data: dict[str, Any] = {}
    before: dict[str, Any] = {}
    custom = dict(survivor.custom or {})
    refs = {d.key: d.reference_type for d in customfields.definitions(rtype.key) if d.field_type == "reference"}
    for name, pk in chosen.items():
        src = by_id[pk]
        if name.startswith(CUSTOM_PREFIX):
            key = name[len(CUSTOM_PREFIX) :]
            value = (src.custom or {}).get(key)
            if refs.get(key) == rtype.key and value in merged | {survivor.pk}:
                value = None  # a reference to itself would be left
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
            continue
        if name in model.related_write_keys:
            spec = child_list(model, name)
            rows = spec.read(src) if spec.key is None else _union(spec, [src, *[r for r in records if r is not src]])
            if rows != spec.read(survivor):
                data[name] = spec.to_write(model, rows)
                before[name] = spec.read(survivor)
            continue
        f = model._meta.get_field(name)
        if name in UNION_FIELDS and name not in explicit:
            value = list(dict.fromkeys([t for r in records for t in (getattr(r, name) or [])]))
        else:
            value = getattr(src, f.attname)  # type: ignore[union-attr]
        if isinstance(f, models.ForeignKey) and f.related_model is model and value in merged | {survivor.pk}:
            value = None  # its parent was one of the merged records: no record is its own parent
        if to_json_value(value) == to_json_value(getattr(survivor, f.attname)):  # type: ignore[union-attr]
            continue
        before[name] = to_json_value(getattr(survivor, f.attname))  # type: ignore[union-attr]
        if isinstance(f, models.ForeignKey):
            data[name] = f.related_model._base_manager.filter(pk=value).first() if value is not None else None
        else:
            data[name] = value
    if custom != (survivor.custom or {}):
        data["custom"] = custom
        before["custom"] = survivor.custom or {}
    return data, before


def _union(spec: ChildList, records: list[Record]) -> list[dict[str, Any]]:
    assert spec.key is not None
    seen: set[Any] = set()
    rows = []
    for record in records:
        for row in spec.read(record):
            k = spec.key(row)
            if k not in seen:
                seen.add(k)
                rows.append(dict(row))
    if spec.primary:
        for i, row in enumerate(rows):
            row["primary"] = i == 0
    return rows


def _repoint(
    rtype: RecordType, survivor_id: int, other_ids: list[int], *, actor: Any, source: str
) -> list[dict[str, Any]]:
    """Point every relation at the merged records to the survivor; returns what moved (for undo)."""
    model = rtype.model
    merged = [survivor_id, *other_ids]
    moves: list[dict[str, Any]] = []
    for rel in relations_to(model):
        f = rel.field
        if rel.kind == LINK:
            holder: type[Record] = rel.model  # type: ignore[assignment]
            where = Q(**{f"{f.name}__in": other_ids})
            if holder is model:
                where &= ~Q(pk__in=merged)
            rows = list(holder.objects.filter(where).values_list("pk", f.attname))  # type: ignore[attr-defined]
            if rows:
                update_records_in_bulk(
                    holder, Q(pk__in=[pk for pk, _ in rows]), {f.name: survivor_id}, actor=actor, source=source
                )
                moves.append({"kind": LINK, "model": holder._meta.label, "field": f.name, "rows": rows})
        elif rel.kind == CHILD:
            parent_fk, key = rel.detail.split(".")
            parent_field: Any = rel.model._meta.get_field(parent_fk)
            parent_model: Any = parent_field.related_model
            parents = rel.model._base_manager.filter(**{f"{f.name}__in": other_ids}).values_list(
                parent_field.attname, flat=True
            )
            spec = child_list(parent_model, key)
            moves += _rewrite_lists(
                parent_model,
                set(parents),
                key,
                functools.partial(_swap, part=spec.link, other_ids=other_ids, survivor_id=survivor_id),
                spec,
                actor=actor,
                source=source,
            )
        elif rel.kind == DOCUMENT:
            rows = list(rel.model._base_manager.filter(**{f"{f.name}__in": other_ids}).values_list("pk", f.attname))
            if rows:
                rel.model._base_manager.filter(pk__in=[pk for pk, _ in rows]).update(**{f.attname: survivor_id})
                moves.append({"kind": DOCUMENT, "model": rel.model._meta.label, "field": f.name, "rows": rows})
        elif rel.kind == LINKSET:
            moves += _move_linkset(rel, survivor_id, other_ids)
    moves += _repoint_activity_links(rtype, survivor_id, other_ids, actor=actor, source=source)
    moves += _repoint_custom_refs(rtype, survivor_id, other_ids, actor=actor, source=source)
    return moves


def _move_linkset(rel: Relation, survivor_id: int, other_ids: list[int]) -> list[dict[str, Any]]:
    """Re-point a many-to-many table's rows from the merged records to the survivor, dropping a row that
    would repeat one the survivor has (the unique pair); the move lists both for undo."""
    table: Any = rel.model._base_manager
    other: Any = rel.model._meta.get_field(rel.detail)
    col, other_col = rel.field.attname, other.attname  # type: ignore[attr-defined]
    taken = set(table.filter(**{col: survivor_id}).values_list(other_col, flat=True))
    moved: list[tuple[int, int]] = []
    dropped: list[tuple[int, int]] = []  # (other column's value, the merged record it linked)
    for pk, other_id, target in table.filter(**{f"{col}__in": other_ids}).values_list("pk", other_col, col):
        if other_id in taken:
            dropped.append((other_id, target))
            table.filter(pk=pk).delete()
        else:
            taken.add(other_id)
            moved.append((pk, target))
            table.filter(pk=pk).update(**{col: survivor_id})
    if not moved and not dropped:
        return []
    return [
        {
            "kind": LINKSET,
            "model": rel.model._meta.label,
            "field": rel.field.name,
            "other": rel.detail,
            "rows": moved,
            "dropped": dropped,
        }
    ]


def _swap(row: dict[str, Any], part: str, other_ids: list[int], survivor_id: int) -> dict[str, Any]:
    if row.get(part) in other_ids:
        return {**row, part: survivor_id}
    return row


def _rewrite_lists(
    parent_model: Any,
    parent_ids: set[int],
    key: str,
    swap: Callable[[dict[str, Any]], dict[str, Any]],
    spec: ChildList,
    *,
    actor: Any,
    source: str,
    exclude: frozenset[int] = frozenset(),
) -> list[dict[str, Any]]:
    """Rewrite the child list ``key`` of each live parent with ``swap`` applied to its rows (repeats
    dropped), through update_record. Parents in the bin are left as they are (their history cannot
    change while binned; restored, they point at a merged record, whose page leads to the survivor)."""
    moves: list[dict[str, Any]] = []
    ids = sorted(parent_ids - exclude)
    if not ids:
        return moves
    rtype = registry.for_model(parent_model)
    qs = parent_model.objects.live().filter(pk__in=ids).order_by("pk")
    if rtype.select_related:
        qs = qs.select_related(*rtype.select_related)
    if rtype.prefetch_related:
        qs = qs.prefetch_related(*rtype.prefetch_related)
    for parent in qs:
        before = spec.read(parent)
        after: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for row in before:
            new = swap(row)
            k = spec.key(new) if spec.key else None
            if k is not None and k in seen:
                continue
            seen.add(k)
            after.append(new)
        if after == before:
            continue
        update_record(parent, {key: spec.to_write(parent_model, after)}, actor=actor, source=source, checked=True)
        moves.append({"kind": CHILD, "type": rtype.key, "id": parent.pk, "key": key, "before": before, "after": after})
    return moves


def _repoint_activity_links(
    rtype: RecordType, survivor_id: int, other_ids: list[int], *, actor: Any, source: str
) -> list[dict[str, Any]]:
    activities = registry.find("activities")
    if activities is None:
        return []
    link_model = target(activities.model, "links")
    holders = set(
        link_model._base_manager.filter(type_key=rtype.key, record_id__in=other_ids).values_list(
            "activity_id", flat=True
        )
    )
    exclude = frozenset([survivor_id, *other_ids]) if activities.key == rtype.key else frozenset()

    def swap(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "id": survivor_id} if row["type"] == rtype.key and row["id"] in other_ids else row

    return _rewrite_lists(
        activities.model,
        holders,
        "links",
        swap,
        child_list(activities.model, "links"),
        actor=actor,
        source=source,
        exclude=exclude,
    )


def _repoint_custom_refs(
    rtype: RecordType, survivor_id: int, other_ids: list[int], *, actor: Any, source: str
) -> list[dict[str, Any]]:
    moves = []
    for d in CustomField.objects.filter(field_type="reference", reference_type=rtype.key).order_by("id"):
        holder_type = registry.find(d.record_type)
        if holder_type is None:
            continue
        qs = holder_type.model.objects.live().filter(**{f"custom__{d.key}__in": other_ids})
        if holder_type.key == rtype.key:
            qs = qs.exclude(pk__in=[survivor_id, *other_ids])
        if holder_type.prefetch_related:
            qs = qs.prefetch_related(*holder_type.prefetch_related)
        for holder in qs.order_by("pk"):
            old = (holder.custom or {}).get(d.key)
            update_record(
                holder, {"custom": {**holder.custom, d.key: survivor_id}}, actor=actor, source=source, checked=True
            )
            moves.append({"kind": "custom", "type": holder_type.key, "id": holder.pk, "key": d.key, "from": old})
    return moves


# --- undo --------------------------------------------------------------------------------------
def undo_merge(merge: Merge, *, actor: Any, source: str) -> Merge:
    """Undo ``merge``: the survivor's fields back to their values before it, the merged records out
    of the bin, and every relation it moved back where it was.

    The rule: undo is refused (:class:`MergeConflict`) when the survivor changed since the merge (its
    version moved: undoing would overwrite that change) or a merged record left the bin. A relation
    changed since the merge (a deal given another company, a contact removed) is left as it is now."""
    rtype = registry.find(merge.type_key)
    if rtype is None:
        raise NoSuchRecord("There is no such merge.")
    model = rtype.model
    with transaction.atomic():
        merge = Merge.objects.select_for_update().get(pk=merge.pk)
        rows = _load(rtype, [merge.survivor_id, *merge.merged_ids], lock=True)
        survivor = rows.get(merge.survivor_id)
        if survivor is None or (actor is not None and not can(actor, survivor, "change")):
            raise NoSuchRecord("There is no such merge.")
        for o in merge.merged_ids:
            r = rows.get(o)
            if r is None or (actor is not None and not can(actor, r, "restore")):
                raise NoSuchRecord("There is no such merge.")
        if merge.undone_at is not None:
            raise MergeConflict("This merge was undone already.")
        if survivor.deleted_at is not None:
            raise MergeConflict(f"{survivor} is in the recycle bin; restore it first.")
        if survivor.version != merge.survivor_version:
            raise MergeConflict(f"{survivor} was changed after the merge; undoing it would overwrite those changes.")
        back = [rows[o] for o in merge.merged_ids if rows[o].deleted_at is None]
        if back:
            raise MergeConflict(f"{back[0]} is no longer in the recycle bin.")
        data = _write_back(model, merge.before)
        if data:
            survivor = update_record(survivor, data, actor=actor, source=source)
        restored = [restore_record(rows[o], actor=actor, source=source) for o in merge.merged_ids]
        for r in restored:
            record_event(
                r,
                "unmerged",
                actor=actor,
                source=source,
                changes={"merged_into": {"id": survivor.pk, "merge": merge.pk}},
            )
        attached = False
        for move in reversed(merge.moves):
            attached |= _move_back(move, merge, actor=actor, source=source)
        record_event(
            survivor,
            "unmerged",
            actor=actor,
            source=source,
            changes={"merge": {"id": merge.pk, "records": merge.merged_ids}},
        )
        if attached:
            search.index_attached([survivor, *restored])
        merge.undone_at = timezone.now()
        merge.undone_by = actor if getattr(actor, "pk", None) else None
        merge.save(update_fields=["undone_at", "undone_by"])
    return merge


def _write_back(model: type[Record], before: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in before.items():
        if name == "custom":
            data[name] = value
        elif name in model.related_write_keys:
            data[name] = child_list(model, name).to_write(model, value)
        else:
            f = model._meta.get_field(name)
            if isinstance(f, models.ForeignKey):
                data[name] = f.related_model._base_manager.filter(pk=value).first() if value is not None else None
            else:
                data[name] = f.to_python(value)  # type: ignore[union-attr]
    return data


def _move_back(move: dict[str, Any], merge: Merge, *, actor: Any, source: str) -> bool:
    survivor_id = merge.survivor_id
    kind = move["kind"]
    if kind in (LINK, DOCUMENT):
        holder = apps.get_model(move["model"])
        f = holder._meta.get_field(move["field"])
        by_target: dict[int, list[int]] = {}
        for pk, target in move["rows"]:
            by_target.setdefault(target, []).append(pk)
        for target, pks in by_target.items():
            where = Q(pk__in=pks, **{f.attname: survivor_id})  # type: ignore[union-attr]
            if kind == LINK:
                update_records_in_bulk(holder, where, {f.name: target}, actor=actor, source=source)  # type: ignore[arg-type]
            else:
                holder._base_manager.filter(where).update(**{f.attname: target})  # type: ignore[union-attr]
        return kind == DOCUMENT
    if kind == LINKSET:
        holder = apps.get_model(move["model"])
        f = holder._meta.get_field(move["field"])
        other_col = holder._meta.get_field(move["other"]).attname  # type: ignore[union-attr]
        for pk, target in move["rows"]:
            holder._base_manager.filter(pk=pk, **{f.attname: survivor_id}).update(**{f.attname: target})  # type: ignore[union-attr]
        for other_id, target in move["dropped"]:
            holder._base_manager.get_or_create(**{other_col: other_id, f.attname: target})  # type: ignore[union-attr]
        return False
    rtype = registry.find(move["type"])
    if rtype is None:
        return False
    qs = rtype.model.objects.live().filter(pk=move["id"])
    if rtype.prefetch_related:
        qs = qs.prefetch_related(*rtype.prefetch_related)
    holder_rec = qs.first()
    if holder_rec is None:
        return False
    if kind == CHILD:
        spec = child_list(rtype.model, move["key"])
        if spec.read(holder_rec) == move["after"]:  # unchanged since the merge: put it back
            update_record(
                holder_rec,
                {move["key"]: spec.to_write(rtype.model, move["before"])},
                actor=actor,
                source=source,
                checked=True,
            )
    elif kind == "custom":
        if (holder_rec.custom or {}).get(move["key"]) == survivor_id:
            custom = dict(holder_rec.custom)
            if move["from"] is None:
                custom.pop(move["key"], None)
            else:
                custom[move["key"]] = move["from"]
            update_record(holder_rec, {"custom": custom}, actor=actor, source=source, checked=True)
    return False


def merged_into(type_key: str, pk: int) -> int | None:
    """The survivor a binned record was merged into (its address leads there), or None once undone."""
    from rapport.core.merged import survivor_of

    return survivor_of(type_key, pk)
