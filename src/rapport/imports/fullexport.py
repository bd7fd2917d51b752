"""The full export: every record type at once as a zip of CSV files with ids and links, which
``rapport import export.zip`` loads back into an empty installation (:mod:`rapport.imports.fullload`).

The zip holds ``manifest.json`` (format and version, when, the base currency, the types in load order with
their file, row count and columns, and the settings the records refer to: pipelines and stages, lost
reasons, custom field definitions), ``users.csv`` (the users records name), and one
``<type>.csv`` per registered type. Each CSV has an ``id`` column, one column per writable field of the
type's write serializer — links to records as the linked record's id, users by user name, settings such as a
stage by name, tags one per line — ``cf_<key>`` per custom field, and JSON columns (``<list>.json``,
``custom.json``) holding child rows and custom values exactly, their links as ids. A list whose entries can
be given as text (a person's emails and phones) also has a plain column with its first entry.

Formula-safe: a cell that a spreadsheet would run as a formula (``=`` ``+`` ``-`` ``@`` tab CR first), or
that starts with a quote, gets a quote in front, so the loader takes exactly one off again. Streamed: rows
are read in keyset batches by id and written into the zip member as they come; only the records the
exporting user may export are read (``visible_to(user, "export")``), and only someone whose role exports
every type with the scope "all" and manages settings may make one (``may_export_all``).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers

from rapport.core import registry
from rapport.core.export import FORMULA_PREFIXES
from rapport.core.models import CustomField
from rapport.core.registry import RecordType
from rapport.core.serializers import RecordLinkField, TagsField

FORMAT = "rapport-full-export"
VERSION = 1
BATCH_SIZE = 1000
MANIFEST = "manifest.json"
USERS_FILE = "users.csv"
TAG_SEPARATOR = "\n"
# Custom field kinds whose text form the import does not read back exactly: written from custom.json.
EXACT_CUSTOM_KINDS = frozenset({"money", "multi_choice", "user", "reference"})
CUSTOM_FIELD_DEFINITION = ("label", "field_type", "required", "choices", "reference_type", "help_text", "position")

Progress = Callable[[str, int], None]  # (type key, rows written so far of that type)


class FullExportError(Exception):
    """Why a full export cannot be made or loaded, in words for the person who asked."""


@dataclass(frozen=True)
class Column:
    header: str
    kind: str  # id, field, link, user, setting, tags, list_text, children, custom, custom_json
    key: str = ""  # the serializer field, or the custom field's key
    link_type: str = ""  # link: the linked record type


def may_export_all(user: Any) -> bool:
    """Administrators: every registered type exported with the scope "all", and settings managed."""
    if not getattr(user, "is_authenticated", False) or not user.can_manage_settings():
        return False
    return all(user.scope_for(t.key, "export") == "all" for t in registry.all_types())


def load_order() -> list[RecordType]:
    """Registered types, each after the types its records link to (companies before people before deals);
    registry order otherwise, and for links that go round (a company's parent is a company)."""
    types = list(registry.all_types())
    needs = {t.key: linked_types(t) - {t.key} for t in types}
    order: list[RecordType] = []
    placed: set[str] = set()
    while len(order) < len(types):
        ready = [t for t in types if t.key not in placed and needs[t.key] <= placed]
        if not ready:  # a cycle between types: the rest in registry order, their links written afterwards
            ready = [t for t in types if t.key not in placed][:1]
        order.append(ready[0])
        placed.add(ready[0].key)
    return order


def linked_types(rtype: RecordType) -> set[str]:
    """The types a record of ``rtype`` may link to: its link fields and its child rows' (a deal's line
    items link products; an activity's links may point at any other type)."""
    out: set[str] = set()
    for f in _write_fields(rtype).values():
        if isinstance(f, RecordLinkField):
            out.add(registry.for_model(f.model).key)
        child = getattr(f, "child", None)
        if getattr(child, "any_record_link", False):
            out.update(registry.keys())
        elif isinstance(child, serializers.Serializer):
            out.update(registry.for_model(c.model).key for c in child.fields.values() if isinstance(c, RecordLinkField))
    return out


def _write_fields(rtype: RecordType) -> dict[str, serializers.Field]:
    serializer = rtype.get_serializer_class()(context={"actor": None})
    return {name: f for name, f in serializer.fields.items() if not f.read_only and name != "custom"}


def takes_text(child: Any) -> bool:
    """A list entry that may be given as plain text (an email, a phone number): its serializer reads a
    string itself."""
    from rapport.core.serializers import EntrySerializer

    own = type(child).to_internal_value
    return isinstance(child, EntrySerializer) and own is not EntrySerializer.to_internal_value


def columns_for(rtype: RecordType) -> list[Column]:
    user_model = get_user_model()
    out = [Column("id", "id")]
    for name, f in _write_fields(rtype).items():
        if isinstance(f, RecordLinkField):
            out.append(Column(name, "link", name, registry.for_model(f.model).key))
        elif isinstance(f, serializers.PrimaryKeyRelatedField):
            queryset: Any = getattr(f, "queryset", None)
            model = getattr(queryset, "model", None)
            out.append(Column(name, "user" if model is user_model else "setting", name))
        elif isinstance(f, TagsField):
            out.append(Column(name, "tags", name))
        elif isinstance(f, serializers.ListSerializer):
            if takes_text(f.child):
                out.append(Column(name, "list_text", name))
            out.append(Column(f"{name}.json", "children", name))
        elif isinstance(f, serializers.ListField):
            out.append(Column(f"{name}.json", "children", name))
        else:
            out.append(Column(name, "field", name))
    definitions = list(CustomField.objects.filter(record_type=rtype.key).order_by("position", "id"))
    out += [Column(f"cf_{d.key}", "custom", d.key) for d in definitions]
    if definitions:
        out.append(Column("custom.json", "custom_json"))
    return out


def safe(text: str) -> str:
    """A cell no spreadsheet runs as a formula; a leading quote is doubled so that one comes off again."""
    return "'" + text if text.startswith((*FORMULA_PREFIXES, "'")) else text


def unsafe(text: str) -> str:
    """The cell as it was before :func:`safe`."""
    return text[1:] if text.startswith("'") else text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _link_id(value: Any) -> Any:
    """An id from an API link ``{"id", "name"}`` or an id."""
    return value.get("id") if isinstance(value, dict) else value


def child_entries(rtype: RecordType, name: str, entries: list[Any]) -> list[Any]:
    """Child rows in the write serializer's shape: only its fields, links as ids."""
    field = _write_fields(rtype)[name]
    child = getattr(field, "child", None)
    if not isinstance(child, serializers.Serializer):
        return entries
    keys = list(child.fields)
    links = {k for k, f in child.fields.items() if isinstance(f, RecordLinkField)}
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            out.append(entry)
            continue
        out.append({k: (_link_id(entry[k]) if k in links else entry[k]) for k in keys if k in entry})
    return out


class _Names:
    """Users by user name (unique; an email may be empty) and settings rows by name, read once per export
    (small tables)."""

    def __init__(self) -> None:
        self.users = dict(get_user_model().objects.values_list("pk", "username"))
        self.settings: dict[Any, dict[Any, str]] = {}

    def setting(self, model: Any, pk: Any) -> str:
        if model not in self.settings:
            self.settings[model] = {p: str(n) for p, n in model.objects.values_list("pk", "name")}
        return self.settings[model].get(pk, "")


@dataclass
class _Raw:
    """One record's values as the export reads them: own columns, child rows (write shape), custom values."""

    pk: int
    snapshot: dict[str, Any]
    lists: dict[str, list[Any]]
    custom: dict[str, Any]


class _Links:
    """How a type's records link others: link columns, child rows' link fields (and whether they may be
    left empty), child rows linking any type (an activity's links), reference custom fields."""

    def __init__(self, rtype: RecordType, columns: list[Column]) -> None:
        fields = _write_fields(rtype)
        self.columns = [c for c in columns if c.kind == "link"]
        self.children: dict[str, dict[str, tuple[str, bool]]] = {}
        self.any_type: set[str] = set()
        for c in columns:
            if c.kind != "children":
                continue
            child = getattr(fields[c.key], "child", None)
            if getattr(child, "any_record_link", False):
                self.any_type.add(c.key)
            elif isinstance(child, serializers.Serializer):
                self.children[c.key] = {
                    k: (registry.for_model(f.model).key, not f.required)
                    for k, f in child.fields.items()
                    if isinstance(f, RecordLinkField)
                }
        self.references = {
            d.key: d.reference_type for d in CustomField.objects.filter(record_type=rtype.key, field_type="reference")
        }

    def live(self, raws: list[_Raw], user: Any) -> dict[str, set[Any]]:
        """Of the records this batch links to, those the export holds (live, exportable): a link to a
        binned record is left out, as the record is."""
        wanted: dict[str, set[Any]] = {}
        for raw in raws:
            for c in self.columns:
                if raw.snapshot.get(c.key) is not None:
                    wanted.setdefault(c.link_type, set()).add(raw.snapshot[c.key])
            for name, links in self.children.items():
                for entry in raw.lists.get(name, []):
                    for key, (link_type, _) in links.items():
                        if isinstance(entry, dict) and entry.get(key) is not None:
                            wanted.setdefault(link_type, set()).add(entry[key])
            for name in self.any_type:
                for entry in raw.lists.get(name, []):
                    if isinstance(entry, dict) and entry.get("type") and entry.get("id") is not None:
                        wanted.setdefault(str(entry["type"]), set()).add(entry["id"])
            for key, link_type in self.references.items():
                if raw.custom.get(key) is not None:
                    wanted.setdefault(link_type, set()).add(raw.custom[key])
        out: dict[str, set[Any]] = {}
        for type_key, ids in wanted.items():
            rtype = registry.find(type_key)
            if rtype is None:
                out[type_key] = set()
                continue
            exported = rtype.model.objects.visible_to(user, "export").filter(pk__in=ids)
            out[type_key] = set(exported.values_list("pk", flat=True))
        return out

    def prune(self, raw: _Raw, live: dict[str, set[Any]]) -> None:
        """Drop links to records the export does not hold: a link column empties, a child row whose link
        may be empty keeps its other values (a line item of a binned product), any other goes."""
        for c in self.columns:
            if raw.snapshot.get(c.key) is not None and raw.snapshot[c.key] not in live.get(c.link_type, ()):
                raw.snapshot[c.key] = None
        for name, links in self.children.items():
            kept = []
            for entry in raw.lists.get(name, []):
                keep = True
                if isinstance(entry, dict):
                    for key, (link_type, optional) in links.items():
                        if entry.get(key) is not None and entry[key] not in live.get(link_type, ()):
                            if optional:
                                entry[key] = None
                            else:
                                keep = False
                if keep:
                    kept.append(entry)
            raw.lists[name] = kept
        for name in self.any_type:
            raw.lists[name] = [
                e
                for e in raw.lists.get(name, [])
                if not isinstance(e, dict) or e.get("id") in live.get(str(e.get("type")), ())
            ]
        for key, link_type in self.references.items():
            if raw.custom.get(key) is not None and raw.custom[key] not in live.get(link_type, ()):
                del raw.custom[key]


def _raw(record: Any, rtype: RecordType, columns: list[Column], viewer: Any) -> _Raw:
    snapshot = record.field_snapshot()
    extra = record.api_extra(viewer)
    related: dict[str, Any] | None = None
    lists: dict[str, list[Any]] = {}
    for col in columns:
        if col.kind not in ("list_text", "children") or col.key in lists:
            continue
        if col.key in extra:
            entries = extra[col.key]
        else:
            related = related if related is not None else record.related_snapshot()
            entries = related.get(col.key, [])
        lists[col.key] = child_entries(rtype, col.key, list(entries or []))
    return _Raw(record.pk, snapshot, lists, dict(snapshot.get("custom") or {}))


def _cells(raw: _Raw, rtype: RecordType, columns: list[Column], names: _Names) -> list[str]:
    snapshot, custom = raw.snapshot, raw.custom
    fields = _write_fields(rtype) if any(c.kind == "setting" for c in columns) else {}
    out: list[str] = []
    for col in columns:
        value: Any
        if col.kind == "id":
            value = raw.pk
        elif col.kind in ("field", "link"):
            value = snapshot.get(col.key)
            # A value that follows a rule unless overridden (a deal's probability follows its stage) is
            # exported only when overridden, so that it follows the rule again after loading.
            if snapshot.get(f"{col.key}_overridden") is False:
                value = None
        elif col.kind == "user":
            value = names.users.get(snapshot.get(col.key), "")
        elif col.kind == "setting":
            model = getattr(fields[col.key], "queryset", None)
            value = names.setting(model.model, snapshot.get(col.key)) if model is not None else ""
        elif col.kind == "tags":
            value = TAG_SEPARATOR.join(snapshot.get(col.key) or [])
        elif col.kind == "children":
            value = json.dumps(raw.lists[col.key], ensure_ascii=False, sort_keys=True)
        elif col.kind == "list_text":
            entries = raw.lists[col.key]
            first = entries[0] if entries else ""
            value = next(iter(first.values()), "") if isinstance(first, dict) else first
        elif col.kind == "custom":
            value = custom.get(col.key)
        else:  # custom_json
            value = json.dumps(custom, ensure_ascii=False, sort_keys=True)
        out.append(safe(_text(value)))
    return out


def _records(rtype: RecordType, user: Any) -> Any:
    """The type's exportable records in keyset batches by id, children prefetched."""
    queryset = rtype.model.objects.visible_to(user, "export").order_by("pk")
    if rtype.select_related:
        queryset = queryset.select_related(*rtype.select_related)
    if rtype.prefetch_related:
        queryset = queryset.prefetch_related(*rtype.prefetch_related)
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last)[:BATCH_SIZE])
        if not batch:
            return
        yield batch
        last = batch[-1].pk


def _settings_manifest(types: list[RecordType]) -> dict[str, Any]:
    from rapport.deals.models import LostReason, Pipeline

    pipelines = [
        {
            "name": p.name,
            "stages": [
                {"name": s.name, "kind": s.kind, "probability": s.probability, "rotting_days": s.rotting_days}
                for s in p.stages.order_by("position", "id")
            ],
        }
        for p in Pipeline.objects.order_by("position", "id").prefetch_related("stages")
    ]
    keys = [t.key for t in types]
    fields = [
        {"record_type": d.record_type, "key": d.key, **{k: getattr(d, k) for k in CUSTOM_FIELD_DEFINITION}}
        for d in CustomField.objects.filter(record_type__in=keys).order_by("record_type", "position", "id")
    ]
    return {
        "pipelines": pipelines,
        "lost_reasons": list(LostReason.objects.order_by("position", "id").values_list("name", flat=True)),
        "custom_fields": fields,
    }


def write_full_export(target: IO[bytes], *, user: Any, progress: Progress | None = None) -> dict[str, Any]:
    """Write the zip into ``target`` (a binary file, seekable or not) and return its manifest."""
    if not may_export_all(user):
        raise FullExportError(
            "Only an administrator (a role that exports every record type with the scope “all” and manages"
            " settings) can export everything."
        )
    types = load_order()
    names = _Names()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": timezone.now().isoformat(),
        "base_currency": settings.BASE_CURRENCY,
        "users": USERS_FILE,
        "types": [],
    }
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        with archive.open(USERS_FILE, "w", force_zip64=True) as member, _text_member(member) as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "username", "email", "first_name", "last_name", "team", "role", "is_active"])
            users = get_user_model().objects.select_related("team", "role").order_by("pk")
            for u in users.iterator(chunk_size=BATCH_SIZE):
                row = [str(u.pk), u.username, u.email, u.first_name, u.last_name]
                row += [u.team.name if u.team else "", u.role.name if u.role else "", _text(u.is_active)]
                writer.writerow([safe(c) for c in row])
        for rtype in types:
            columns = columns_for(rtype)
            filename = f"{rtype.key}.csv"
            count = 0
            with archive.open(filename, "w", force_zip64=True) as member, _text_member(member) as handle:
                writer = csv.writer(handle)
                writer.writerow([c.header for c in columns])
                links = _Links(rtype, columns)
                for batch in _records(rtype, user):
                    raws = [_raw(record, rtype, columns, user) for record in batch]
                    live = links.live(raws, user)
                    for raw in raws:
                        links.prune(raw, live)
                        writer.writerow(_cells(raw, rtype, columns, names))
                    count += len(batch)
                    if progress:
                        progress(rtype.key, count)
            manifest["types"].append(
                {
                    "key": rtype.key,
                    "label": rtype.label_plural,
                    "file": filename,
                    "count": count,
                    "columns": [asdict(c) for c in columns],
                }
            )
        manifest["settings"] = _settings_manifest(types)
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))
    return manifest


class _text_member:  # noqa: N801  (used like open())
    """A zip member opened for writing, as UTF-8 text for the csv module (newlines as written)."""

    def __init__(self, member: IO[bytes]) -> None:
        self.wrapper = io.TextIOWrapper(member, encoding="utf-8", newline="", write_through=False)

    def __enter__(self) -> io.TextIOWrapper:
        return self.wrapper

    def __exit__(self, *exc: object) -> None:
        self.wrapper.flush()
        self.wrapper.detach()


__all__ = [
    "FORMAT",
    "VERSION",
    "Column",
    "FullExportError",
    "columns_for",
    "load_order",
    "may_export_all",
    "safe",
    "unsafe",
    "write_full_export",
]
