"""What a column can be imported into, and a file row turned into a write payload.

Targets come from the record type's write serializer (the same one every path validates with), so
every registered type is importable with no per-type code:
- a writable field (``first_name``; a list field such as ``emails`` takes one entry per column);
- ``cf_<key>``: a custom field;
- a link to a record (``company``) by its natural key: its name (or, for a type with ``import_match``,
  e.g. a company's domain) among the records the actor may view — anything else is answered like a name
  that does not exist; ``<link>:source_id`` links to the record loaded for that source id by an import of
  the same batch (a full export loaded back);
- a user (``owner``) by email, user name or full name; a setting such as a pipeline or a stage by name;
- ``tags`` split on the import's separator; ``full_name`` split into first and last name; ``source_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.functions import Lower
from rest_framework import serializers

from rapport.core import registry
from rapport.core.models import CustomField
from rapport.core.registry import RecordType
from rapport.core.serializers import RecordLinkField, TagsField
from rapport.core.visibility import linkable

SKIP = ""
SOURCE_ID = "source_id"
FULL_NAME = "full_name"
SOURCE_SUFFIX = ":source_id"


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    kind: str  # field, list, tags, link, user, setting, custom, full_name, source_id, link_source
    model: Any = None  # link: the record model; setting: the settings model
    link_type: str = ""  # link and link_source: the linked type's key


def serializer_fields(rtype: RecordType) -> dict[str, serializers.Field]:
    serializer = rtype.get_serializer_class()(context={"actor": None})
    return {name: f for name, f in serializer.fields.items() if not f.read_only and name != "custom"}


def targets(rtype: RecordType) -> dict[str, Target]:
    """Every target a column of a file for ``rtype`` may be mapped to, in form order."""
    model = rtype.model
    out: dict[str, Target] = {}
    names = {f.name: f for f in model._meta.get_fields() if hasattr(f, "verbose_name")}
    for name, f in serializer_fields(rtype).items():
        label = str(names[name].verbose_name).capitalize() if name in names else name.replace("_", " ").capitalize()
        if name == "emails":
            label = "Email"
        elif name == "phones":
            label = "Phone"
        if isinstance(f, RecordLinkField):
            link = registry.for_model(f.model)
            out[name] = Target(name, label, "link", f.model, link.key)
            out[name + SOURCE_SUFFIX] = Target(
                name + SOURCE_SUFFIX, f"{label} (by source id)", "link_source", f.model, link.key
            )
        elif isinstance(f, serializers.PrimaryKeyRelatedField):
            queryset: Any = getattr(f, "queryset", None)
            related = queryset.model if queryset is not None else None
            kind = "user" if related is get_user_model() else "setting"
            out[name] = Target(name, label, kind, related)
        elif isinstance(f, TagsField):
            out[name] = Target(name, label, "tags")
        elif isinstance(f, serializers.ListSerializer | serializers.ListField):
            out[name] = Target(name, label, "list")
        else:
            out[name] = Target(name, label, "field")
    fields = {f.name for f in model._meta.get_fields()}
    if {"first_name", "last_name"} <= fields:
        out[FULL_NAME] = Target(FULL_NAME, "Full name (split into first and last)", "full_name")
    for cf in CustomField.objects.filter(record_type=rtype.key).order_by("position", "id"):
        out[f"cf_{cf.key}"] = Target(f"cf_{cf.key}", cf.label, "custom")
    out[SOURCE_ID] = Target(SOURCE_ID, "Id in the source system", "source_id")
    return out


def match_choices(rtype: RecordType, found: dict[str, Target] | None = None) -> dict[str, str]:
    """What rows may be matched to existing records on: the type's declared keys (a person's email,
    a company's domain), then any plain field or custom field."""
    out = {key: key.replace("_", " ").capitalize() for key in rtype.import_match}
    for key, target in (found if found is not None else targets(rtype)).items():
        if target.kind in ("field", "custom") and key not in out:
            out[key] = target.label
    return out


def default_match(rtype: RecordType) -> str:
    return next(iter(rtype.import_match), "")


def split_full_name(text: str) -> tuple[str, str]:
    """ "Ada King Lovelace" → ("Ada King", "Lovelace"); "Lovelace, Ada" → ("Ada", "Lovelace")."""
    text = " ".join(text.split())
    if "," in text:
        last, _, first = text.partition(",")
        return first.strip(), last.strip()
    first, _, last = text.rpartition(" ")
    return (first, last) if first else (text, "")


@dataclass
class RowPlan:
    """A file row as a payload for the write serializer, with what still needs resolving."""

    line: int
    cells: list[str]
    payload: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (column, value, reason)
    source_id: str = ""
    # target key → (column title, natural key or source id) to resolve per batch
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)  # payload key → (column, value)
    missing_company: str = ""  # a company name to create before the write (create_companies)


def plan_row(
    line: int,
    cells: list[str],
    *,
    headers: list[str],
    mapping: list[str],
    constants: dict[str, str],
    found: dict[str, Target],
    tag_separator: str,
) -> RowPlan:
    plan = RowPlan(line, cells)
    values: list[tuple[str, str, str]] = [("(every row)", key, value) for key, value in constants.items()]
    for i, target in enumerate(mapping):
        if target and i < len(cells):
            values.append((headers[i] if i < len(headers) else f"Column {i + 1}", target, cells[i]))
    payload = plan.payload
    for column, key, raw in values:
        value = raw.strip()
        if not value or key not in found:
            continue
        t = found[key]
        if t.kind == "source_id":
            plan.source_id = value[:200]
        elif t.kind == "full_name":
            first, last = split_full_name(value)
            payload.setdefault("first_name", first)
            payload.setdefault("last_name", last)
            plan.columns.setdefault("first_name", (column, raw))
            plan.columns.setdefault("last_name", (column, raw))
        elif t.kind == "custom":
            payload.setdefault("custom", {})[key[3:]] = value
            plan.columns.setdefault(f"custom.{key[3:]}", (column, raw))
        elif t.kind == "tags":
            tags = [p.strip() for p in value.split(tag_separator or ",")] if tag_separator else [value]
            payload.setdefault(key, []).extend(p for p in tags if p)
            plan.columns.setdefault(key, (column, raw))
        elif t.kind == "list":
            payload.setdefault(key, []).append(value)
            plan.columns.setdefault(key, (column, raw))
        elif t.kind in ("link", "link_source", "user", "setting"):
            plan.links[key] = (column, value)
            plan.columns.setdefault(key.removesuffix(SOURCE_SUFFIX), (column, raw))
        else:
            payload[key] = value
            plan.columns.setdefault(key, (column, raw))
    return plan


class Resolver:
    """Natural keys and source ids of one batch of rows resolved to ids with one query per target, among
    what the actor may link to."""

    def __init__(self, rtype: RecordType, found: dict[str, Target], actor: Any, batch: str) -> None:
        self.rtype = rtype
        self.found = found
        self.actor = actor
        self.batch = batch
        self._users: dict[str, list[int]] | None = None

    def users(self) -> dict[str, list[int]]:
        if self._users is None:
            by_key: dict[str, list[int]] = {}
            for u in get_user_model().objects.filter(is_active=True):
                keys = {u.username.casefold(), u.get_full_name().casefold()}
                if u.email:
                    keys.add(u.email.casefold())
                for k in keys - {""}:
                    by_key.setdefault(k, []).append(u.pk)
            self._users = by_key
        return self._users

    def resolve(self, plans: list[RowPlan], *, create_companies: bool) -> None:
        """Put each resolved link's id in the plans' payloads; record an error for the rest."""
        wanted: dict[str, set[str]] = {}
        for plan in plans:
            for key, (_, value) in plan.links.items():
                wanted.setdefault(key, set()).add(value)
        answers: dict[str, dict[str, list[Any]]] = {key: self._lookup(key, values) for key, values in wanted.items()}

        def hits_of(key: str, value: str) -> list[Any]:
            kind = self.found[key].kind
            return answers[key].get(value.casefold() if kind != "link_source" else value, [])

        for plan in plans:
            # Unambiguous links first, so a stage named in several pipelines is looked for in the row's.
            for key, (column, value) in sorted(plan.links.items(), key=lambda kv: len(hits_of(kv[0], kv[1][1])) > 1):
                t = self.found[key]
                hits = hits_of(key, value)
                name = key.removesuffix(SOURCE_SUFFIX)
                if t.kind == "setting" and len(hits) > 1:  # e.g. a stage of the row's pipeline
                    hits = [h for h in hits if _fits(h, plan.payload)] or hits
                if len(hits) == 1:
                    hit = hits[0]
                    plan.payload[name] = hit.pk if hasattr(hit, "pk") else hit
                    continue
                if not hits and t.kind == "link" and t.link_type == "companies" and create_companies:
                    plan.missing_company = value
                    continue
                plan.errors.append((column, value, self._message(t, value, len(hits))))

    def _lookup(self, key: str, values: set[str]) -> dict[str, list[Any]]:
        t = self.found[key]
        out: dict[str, list[Any]] = {}
        if t.kind == "user":
            users = self.users()
            return {v.casefold(): users.get(v.casefold(), []) for v in values}
        if t.kind == "link_source":
            from .models import ImportChange

            rows = ImportChange.objects.filter(
                job__batch=self.batch, type_key=t.link_type, source_id__in=values, action__in=("created", "updated")
            ).values_list("source_id", "record_id")
            ids = dict(rows)
            live = set(linkable(t.model, self.actor).filter(pk__in=ids.values()).values_list("pk", flat=True))
            return {sid: [pk] for sid, pk in ids.items() if pk in live} if self.batch else {}
        lowered = {v.casefold() for v in values}
        if t.kind == "setting":
            for obj in t.model.objects.annotate(_k=Lower("name")).filter(_k__in=lowered):
                out.setdefault(obj._k, []).append(obj)
            return out
        link = registry.get(t.link_type)
        fields = [f for f in (*link.title_fields[:1], *link.import_match.values()) if "__" not in f]
        if len(link.title_fields) > 1:
            fields = [f for f in link.import_match.values() if "__" not in f]
        q = Q()
        for name in fields:
            q |= Q(**{f"_{name}__in": lowered})
        qs = linkable(t.model, self.actor).annotate(**{f"_{name}": Lower(name) for name in fields}).filter(q)
        for row in qs.values("pk", *(f"_{name}" for name in fields)):
            for name in fields:
                k = row[f"_{name}"]
                if k in lowered and row["pk"] not in out.get(k, []):
                    out.setdefault(k, []).append(row["pk"])
        return out

    def _message(self, t: Target, value: str, hits: int) -> str:
        if t.kind == "user":
            what = "user"
        elif t.kind == "setting":
            what = str(t.model._meta.verbose_name)
        else:
            what = registry.get(t.link_type).label.lower()
        if t.kind == "link_source":
            return f"There is no {what} with the source id {value} in this load."
        if hits > 1:
            return f"Several {what} records are called {value}; use a more precise value."
        return f"There is no {what} called {value}."


def _fits(obj: Any, payload: dict[str, Any]) -> bool:
    """A setting (a stage) that belongs to what the row already chose (its pipeline)."""
    for key, value in payload.items():
        if hasattr(obj, f"{key}_id") and getattr(obj, f"{key}_id") != value:
            return False
    return True
